using System.IO.Compression;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace DistTrain.Cluster.Tests.Hosting;

/// <summary>
/// `dotnet pack` gives the four library packages of docs/library.md, and a program outside this repository that
/// references DistTrain.Cluster from them builds and runs the guide's local-mode sample.
/// </summary>
public class PackagingTests
{
    private static readonly string[] Libraries = ["DistTrain.Core", "DistTrain.Data", "DistTrain.Cluster", "DistTrain.Onnx"];

    [Fact]
    public async Task The_libraries_pack_into_packages_that_a_separate_program_can_train_with()
    {
        var dir = Directory.CreateTempSubdirectory("disttrain-pack-").FullName;
        // A version of its own: NuGet caches packages by id and version, and the sample must run this build's code.
        var version = $"0.1.0-test.{DateTime.UtcNow:yyyyMMddHHmmssfff}";
        try
        {
            var feed = Path.Combine(dir, "feed");
            // The build under test (dotnet test built it); Release is what CI builds.
            var (code, stdout, stderr) = await Command.RunAsync("dotnet", "pack", Repo.File("DistTrain.sln"), "-c", "Release", "--no-build", "-o", feed, "-nologo",
                $"-p:Version={version}");
            Assert.True(code == 0, $"dotnet pack exited {code}:\n{stdout}\n{stderr}");
            Assert.Equal(Libraries.Select(l => $"{l}.{version}.nupkg").Order(), Directory.GetFiles(feed).Select(Path.GetFileName).Order());

            foreach (var lib in Libraries)
            {
                using var zip = ZipFile.OpenRead(Path.Combine(feed, $"{lib}.{version}.nupkg"));
                var names = zip.Entries.Select(e => e.FullName).ToHashSet();
                Assert.Contains($"lib/net10.0/{lib}.dll", names);
                Assert.Contains("README.md", names);
                Assert.Contains("LICENSE", names);
                Assert.DoesNotContain(names, n => n.EndsWith(".onnx", StringComparison.Ordinal)); // no 64 MB model files
                var nuspec = XDocument.Load(zip.GetEntry($"{lib}.nuspec")!.Open());
                XNamespace ns = nuspec.Root!.Name.Namespace;
                Assert.Equal("Apache-2.0", nuspec.Descendants(ns + "license").Single().Value);
                var deps = nuspec.Descendants(ns + "dependency").ToDictionary(d => d.Attribute("id")!.Value, d => d.Attribute("version")!.Value);
                if (lib == "DistTrain.Cluster")
                {
                    Assert.Equal(version, deps["DistTrain.Core"]);
                    Assert.Equal(version, deps["DistTrain.Data"]);
                    Assert.Contains("Akka.Cluster", deps.Keys);
                    Assert.Contains("Akka.Serialization.Hyperion", deps.Keys);
                }
            }

            // A program of its own: the packages from the feed, everything else from the machine's package cache
            // (the repository's restore filled it), no network.
            var app = Path.Combine(dir, "app");
            Directory.CreateDirectory(app);
            File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="disttrain" value="{feed}" />
                  </packageSources>
                </configuration>
                """);
            File.WriteAllText(Path.Combine(app, "App.csproj"), $$"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="DistTrain.Cluster" Version="{{version}}" />
                  </ItemGroup>
                </Project>
                """);
            var guide = File.ReadAllText(Repo.File("docs/library.md"));
            var sample = Regex.Match(guide, @"<!-- guide:local -->\s*```csharp\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
            Assert.NotEmpty(sample);
            File.WriteAllText(Path.Combine(app, "Program.cs"), $$"""
                using DistTrain.Cluster.Hosting;
                using DistTrain.Cluster.Jobs;
                using DistTrain.Cluster.Protocol;
                using DistTrain.Core.Losses;
                using DistTrain.Core.Models;
                using DistTrain.Core.Optimizers;

                var table = DistTrain.Data.Presets.Penguins.LoadEmbedded();
                float[] features = table.Features.ToArray();
                int[] labels = table.Labels.ToArray();
                var outDir = Path.Combine(AppContext.BaseDirectory, "run");
                var output = Console.Out;

                """ + sample);
            (code, stdout, stderr) = await Command.RunAsync("dotnet", "run", "--project", app, "-c", "Release");
            Assert.True(code == 0, $"the packaged sample exited {code}:\n{stdout}\n{stderr}");
            Assert.Matches(@"test accuracy (0\.9[5-9]\d|1\.000)", stdout);
            Assert.Contains("Adelie (", stdout);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
            var cache = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p ? p
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            foreach (var lib in Libraries)
            {
                var cached = Path.Combine(cache, lib.ToLowerInvariant(), version);
                if (Directory.Exists(cached)) Directory.Delete(cached, recursive: true);
            }
        }
    }
}
