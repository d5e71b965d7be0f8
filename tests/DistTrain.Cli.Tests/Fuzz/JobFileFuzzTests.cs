using System.Text;
using System.Text.Json.Nodes;
using DistTrain.Cli.Commands;
using DistTrain.Cluster.Jobs;

namespace DistTrain.Cli.Tests.Fuzz;

// Inside the namespace: DistTrain.*.Tests.Fuzz would otherwise hide the Fuzz helper class.
using DistTrain.Tests.Shared;

/// <summary>JobFile.Read on mutated job files: a valid job or a UsageException naming the file, nothing else.</summary>
public sealed class JobFileFuzzTests : IDisposable
{
    private readonly TempFolder _tmp = new();

    public void Dispose() => _tmp.Dispose();

    private static JsonNode? RandomValue(Random rng) => rng.Next(14) switch
    {
        0 => JsonValue.Create(-1),
        1 => JsonValue.Create(0),
        2 => JsonValue.Create(rng.Next(1, 50)),
        3 => JsonValue.Create(int.MaxValue),
        4 => JsonValue.Create(ulong.MaxValue),
        5 => JsonValue.Create(-2.5e300),
        6 => JsonValue.Create("x"),
        7 => JsonValue.Create(rng.Next(2) == 0 ? "adam" : "softmax_cross_entropy"),
        8 => JsonValue.Create(rng.Next(2) == 0),
        9 => null,
        10 => new JsonArray(),
        11 => new JsonObject(),
        12 => JsonValue.Create(0.5),
        _ => Nested(rng),
    };

    private static JsonNode Nested(Random rng)
    {
        JsonNode n = JsonValue.Create(1);
        for (var d = rng.Next(2, 150); d > 0; d--) n = rng.Next(2) == 0 ? new JsonArray(n) : new JsonObject { ["k"] = n };
        return n;
    }

    private static List<(JsonNode Parent, object Key)> Slots(JsonNode node)
    {
        var slots = new List<(JsonNode, object)>();
        void Walk(JsonNode n)
        {
            if (n is JsonObject o)
                foreach (var (k, v) in o.ToList()) { slots.Add((o, k)); if (v is not null) Walk(v); }
            else if (n is JsonArray a)
                for (var i = 0; i < a.Count; i++) { slots.Add((a, i)); if (a[i] is { } v) Walk(v); }
        }
        Walk(node);
        return slots;
    }

    private static string Mutate(string valid, Random rng)
    {
        var root = JsonNode.Parse(valid)!;
        for (var m = 1 + rng.Next(3); m > 0; m--)
        {
            var slots = Slots(root);
            var (parent, key) = slots[rng.Next(slots.Count)];
            switch (rng.Next(5))
            {
                case 0 or 1 or 2:
                    if (parent is JsonObject o) o[(string)key] = RandomValue(rng);
                    else ((JsonArray)parent)[(int)key] = RandomValue(rng);
                    break;
                case 3:
                    if (parent is JsonObject o2) o2.Remove((string)key);
                    else ((JsonArray)parent).RemoveAt((int)key);
                    break;
                default:
                    if (parent is JsonObject o3) o3["surprise"] = RandomValue(rng);
                    break;
            }
        }
        var text = root.ToJsonString();
        return rng.Next(6) switch
        {
            0 => text[..rng.Next(text.Length)],
            1 => text.Insert(rng.Next(text.Length), "\"{,]"[rng.Next(4)].ToString()),
            _ => text,
        };
    }

    [Fact]
    public void A_valid_job_file_round_trips()
    {
        var job = Presets.Get("shapes-cnn", 7);
        var path = _tmp.File("job.json");
        File.WriteAllText(path, JobFile.ToJson(job));
        Assert.Equal(JobFile.ToJson(job), JobFile.ToJson(JobFile.Read(path)));
    }

    [Fact]
    public void Mutated_job_files_give_a_valid_job_or_a_UsageException_naming_the_file()
    {
        var rng = new Random(5401);
        string[] valid = [JobFile.ToJson(Presets.Get("penguins", 1)), JobFile.ToJson(Presets.Get("shapes-cnn", 2) with { OutputDirectory = "/tmp/x" })];
        int rejected = 0, accepted = 0;
        for (var i = 0; i < 1000; i++)
        {
            var json = Mutate(valid[i % 2], rng);
            var path = _tmp.File($"job-{i}.json");
            File.WriteAllText(path, json, new UTF8Encoding(false));
            TrainingJob? job = null;
            var what = $"case {i} (seed 5401): {Fuzz.Show(json, 1500)}";
            var e = Fuzz.Expect<UsageException>(what, () => job = JobFile.Read(path));
            if (e is not null)
            {
                rejected++;
                Assert.True(e.Message.StartsWith(path + ": ", StringComparison.Ordinal), $"{what}: the message does not name the file: {e.Message}");
                continue;
            }
            // An accepted job is complete: every part a node dereferences is there and valid.
            accepted++;
            Assert.NotNull(job);
            Assert.NotNull(job.Data);
            Assert.NotNull(job.Data.Kind);
            Assert.NotNull(job.Model);
            Assert.All(job.Model.Layers, Assert.NotNull);
            Assert.NotNull(job.Optimizer);
            job.Validate();
        }
        Assert.True(rejected > 300 && accepted > 50, $"rejected {rejected}, accepted {accepted}");
    }

    // Job files the fuzz found, kept as named cases: each used to escape as another exception type.
    [Theory]
    [InlineData("model.layers[1]", "remove-type", "type discriminator")] // NotSupportedException
    [InlineData("optimizer", "null", "needs an \"optimizer\"")] // NullReferenceException in Validate
    [InlineData("data", "null", "needs \"data\"")] // NullReferenceException on the node that loads the data
    [InlineData("model", "null", "needs a \"model\"")]
    [InlineData("model.layers[0]", "null", "model layer 0 is null")]
    [InlineData("model.input_shape", "null", "inputShape")] // ArgumentNullException from the ModelSpec constructor
    [InlineData("loss", "3", "loss")] // a number for an enum: rejected, not turned into an unknown loss
    public void Job_files_the_fuzz_found_are_UsageExceptions_naming_the_file(string at, string change, string says)
    {
        var root = JsonNode.Parse(JobFile.ToJson(Presets.Get("penguins", 1)))!;
        var parts = at.Split('.');
        JsonNode parent = root;
        foreach (var p in parts[..^1]) parent = parent[p]!;
        var last = parts[^1];
        var index = last.EndsWith(']') ? int.Parse(last[(last.IndexOf('[') + 1)..^1], System.Globalization.CultureInfo.InvariantCulture) : -1;
        if (index >= 0) parent = parent[last[..last.IndexOf('[')]]!;
        switch (change)
        {
            case "remove-type": parent[index]!.AsObject().Remove("type"); break;
            case "null" when index >= 0: parent[index] = null; break;
            case "null": parent[last] = null; break;
            default: parent[last] = JsonValue.Create(int.Parse(change, System.Globalization.CultureInfo.InvariantCulture)); break;
        }
        var path = _tmp.File("found.json");
        File.WriteAllText(path, root.ToJsonString());
        var e = Assert.Throws<UsageException>(() => JobFile.Read(path));
        Assert.StartsWith(path + ": ", e.Message);
        Assert.True(e.Message.Contains(says, StringComparison.Ordinal), e.Message);
    }
}
