using DistTrain.Core.Checkpoints;
using DistTrain.Core.Models;

namespace DistTrain.Cli.Tests;

/// <summary><c>disttrain train --base/--head/--freeze</c> end to end on the penguins.</summary>
public class TransferCommandTests
{
    private static async Task<(int Exit, string Out, string Err)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await Program.RunAsync(args, stdout, stderr);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Train_with_a_base_freezes_its_layers_adds_the_head_and_evaluate_reads_the_result()
    {
        using var pre = new TempFolder();
        using var tr = new TempFolder();
        Assert.Equal(0, (await Run("train", "--out", pre.Path, "--epochs", "15", "--workers", "2")).Exit);
        var (exit, output, err) = await Run("train", "--out", tr.Path, "--base", pre.File("checkpoint.dtck"), "--head", "6", "--epochs", "10", "--workers", "2");
        Assert.True(exit == 0, err);
        Assert.Contains("frozen)", output);

        var baseCk = CheckpointFile.Read(pre.File("checkpoint.dtck"));
        var ck = CheckpointFile.Read(tr.File("checkpoint.dtck"));
        // penguins 4-5-5-3: keeps dense_0 relu_1 dense_2 relu_3 (frozen), adds head_dense_1 head_relu_1 head_output.
        Assert.Equal(["dense_0", "relu_1", "dense_2", "relu_3", "head_dense_1", "head_relu_1", "head_output"], ck.Spec.Layers.Select(l => l.Name ?? "").ToArray());
        Assert.Equal([false, false, false, false, null, null, null], ck.Spec.Layers.Select(l => l.Trainable).ToArray());
        var model = new Model(ck.Spec);
        var baseModel = new Model(baseCk.Spec);
        Assert.Equal(baseModel.Layers[0].ParameterCount + baseModel.Layers[2].ParameterCount, model.FrozenParameterCount);
        Assert.Equal(baseCk.Parameters.AsSpan(0, model.FrozenParameterCount).ToArray(), ck.Parameters.AsSpan(0, model.FrozenParameterCount).ToArray());

        var (evalExit, evalOut, evalErr) = await Run("evaluate", "--checkpoint", tr.File("checkpoint.dtck"));
        Assert.True(evalExit == 0, evalErr);
        Assert.Contains("confusion matrix", evalOut);
    }

    [Fact]
    public async Task Train_refuses_an_unknown_layer_to_freeze_and_a_head_without_a_base()
    {
        using var tmp = new TempFolder();
        var (exit, _, err) = await Run("train", "--out", tmp.Path, "--freeze", "dense_99");
        Assert.NotEqual(0, exit);
        Assert.Contains("dense_99", err);
        (exit, _, err) = await Run("train", "--out", tmp.Path, "--head", "8");
        Assert.NotEqual(0, exit);
        Assert.Contains("--base", err);
    }
}
