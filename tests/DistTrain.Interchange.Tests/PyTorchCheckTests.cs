using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using DistTrain.Core.Interchange;
using DistTrain.Core.Models;
using Xunit.Abstractions;

namespace DistTrain.Interchange.Tests;

/// <summary>
/// Runs scripts/interchange/check_safetensors_torch.py with Debian's /usr/bin/python3: PyTorch loads the
/// exported safetensors into the equivalent nn.Sequential with load_state_dict(strict=True) and must
/// reproduce DistTrain's outputs. Fails (does not skip) when PyTorch is missing: CI installs python3-torch.
/// </summary>
public sealed class PyTorchCheckTests(ITestOutputHelper log) : IDisposable
{
    private const string Python = "/usr/bin/python3";
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("disttrain-torch-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static string RepoFile(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "DistTrain.sln"))) return Path.Combine(dir.FullName, relative);
        throw new FileNotFoundException($"no DistTrain.sln above {AppContext.BaseDirectory}");
    }

    /// <summary>A version-1.0 .npy file: magic, header dict padded to a multiple of 64 bytes, little-endian float32.</summary>
    private static void WriteNpy(string path, float[] values, int[] shape)
    {
        var dims = string.Join(", ", shape) + (shape.Length == 1 ? "," : "");
        var dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}";
        var total = 10 + dict.Length + 1;
        dict += new string(' ', (64 - total % 64) % 64) + "\n";
        using var fs = File.Create(path);
        fs.Write([0x93, .. "NUMPY"u8, 1, 0]);
        fs.Write(BitConverter.GetBytes((ushort)dict.Length));
        fs.Write(Encoding.ASCII.GetBytes(dict));
        fs.Write(MemoryMarshal.AsBytes(values.AsSpan()));
    }

    private (int ExitCode, string Stdout, string Stderr) Check(ModelSpec spec, float[] parameters, float[] inputs, int batch, float[] expected, bool passSpec,
        string? pythonPath = null)
    {
        if (!File.Exists(Python)) Assert.Fail($"{Python} is missing: install Debian's python3 and python3-torch: apt-get install python3-torch");
        var weights = Path.Combine(_dir.FullName, "model.safetensors");
        ModelWeights.WriteSafeTensors(weights, spec, parameters);
        var specPath = Path.Combine(_dir.FullName, "spec.json");
        File.WriteAllText(specPath, spec.ToJson(indented: true));
        var inputPath = Path.Combine(_dir.FullName, "x.npy");
        WriteNpy(inputPath, inputs, [batch, .. spec.InputShape]);
        var expectedPath = Path.Combine(_dir.FullName, "y.f32");
        File.WriteAllBytes(expectedPath, MemoryMarshal.AsBytes(expected.AsSpan()).ToArray());
        var psi = new ProcessStartInfo(Python)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(RepoFile("scripts/interchange/check_safetensors_torch.py"));
        psi.ArgumentList.Add(weights);
        if (passSpec) { psi.ArgumentList.Add("--spec"); psi.ArgumentList.Add(specPath); }
        psi.ArgumentList.Add("--input"); psi.ArgumentList.Add(inputPath);
        psi.ArgumentList.Add("--expected"); psi.ArgumentList.Add(expectedPath);
        psi.Environment["OMP_NUM_THREADS"] = "1";
        if (pythonPath is not null) psi.Environment["PYTHONPATH"] = pythonPath;
        using var p = Process.Start(psi)!;
        var stderrTask = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        if (!p.WaitForExit(120_000)) { p.Kill(entireProcessTree: true); Assert.Fail("the PyTorch check did not finish within 120 s"); }
        var stderr = stderrTask.Result;
        log.WriteLine($"exit {p.ExitCode}: {stdout}{stderr}");
        if (p.ExitCode == 3 && pythonPath is null)
            Assert.Fail($"PyTorch is missing for {Python}: install Debian's python3-torch: apt-get install python3-torch ({stderr.Trim()})");
        return (p.ExitCode, stdout, stderr);
    }

    private void AssertTorchAgrees(ModelSpec spec, int seed, bool passSpec)
    {
        const int batch = 16;
        var parameters = TestModels.RandomParameters(spec, seed);
        var x = TestModels.RandomInputs(spec, batch, seed + 1);
        var y = TestModels.Forward(spec, parameters, x, batch);
        var (code, stdout, stderr) = Check(spec, parameters, x, batch, y, passSpec);
        Assert.True(code == 0, $"the PyTorch check failed (exit {code}): {stdout}{stderr}");
        Assert.Contains("\"ok\": true", stdout);
    }

    [Fact]
    public void PyTorch_loads_the_exported_mlp_with_load_state_dict_and_reproduces_Forward()
        => AssertTorchAgrees(TestModels.PenguinsMlp, 21, passSpec: true);

    [Fact]
    public void PyTorch_loads_the_exported_cnn_from_its_own_metadata_spec_and_reproduces_Forward()
        => AssertTorchAgrees(TestModels.Cnn, 22, passSpec: false);

    [Fact]
    public void The_PyTorch_check_fails_when_the_outputs_it_is_given_are_wrong()
    {
        // The check must be able to fail: perturb one expected output by 1e-3 (10× the tolerance).
        var spec = TestModels.PenguinsMlp;
        var parameters = TestModels.RandomParameters(spec, 23);
        var x = TestModels.RandomInputs(spec, 4, 24);
        var y = TestModels.Forward(spec, parameters, x, 4);
        y[5] += 1e-3f;
        var (code, _, stderr) = Check(spec, parameters, x, 4, y, passSpec: true);
        Assert.Equal(1, code);
        Assert.Contains("PyTorch and DistTrain differ", stderr);
    }

    [Fact]
    public void Without_PyTorch_the_script_says_to_install_python3_torch()
    {
        // A "torch" package that cannot be imported shadows the real one.
        var shadow = Directory.CreateDirectory(Path.Combine(_dir.FullName, "shadow", "torch"));
        File.WriteAllText(Path.Combine(shadow.FullName, "__init__.py"), "raise ImportError('No module named torch (test shadow)')\n");
        var spec = TestModels.PenguinsMlp;
        var parameters = TestModels.RandomParameters(spec, 25);
        var x = TestModels.RandomInputs(spec, 2, 26);
        var (code, _, stderr) = Check(spec, parameters, x, 2, TestModels.Forward(spec, parameters, x, 2), passSpec: true, pythonPath: shadow.Parent!.FullName);
        Assert.Equal(3, code);
        Assert.Contains("install Debian's python3-torch: apt-get install python3-torch", stderr);
    }
}
