using DistTrain.Core.Interchange.Onnx;
using DistTrain.Core.Layers;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;
using Microsoft.ML.OnnxRuntime;
using Xunit.Abstractions;

namespace DistTrain.Interchange.Tests;

/// <summary>ONNX Runtime runs the exported graphs and must agree with DistTrain's own Forward.</summary>
public sealed class OnnxExportTests(ITestOutputHelper log)
{
    private const float Tolerance = 1e-4f;

    private (float[] Output, float[] Probabilities) RunOnnx(byte[] onnx, ModelSpec spec, float[] inputs, int batch)
    {
        using var session = new InferenceSession(onnx);
        long[] shape = [batch, .. spec.InputShape.Select(d => (long)d)];
        using var input = OrtValue.CreateTensorValueFromMemory(inputs, shape);
        using var runOptions = new RunOptions();
        using var results = session.Run(runOptions, [OnnxExport.InputName], [input], [OnnxExport.OutputName, OnnxExport.ProbabilitiesName]);
        var output = results[0].GetTensorDataAsSpan<float>().ToArray();
        var probabilities = results[1].GetTensorDataAsSpan<float>().ToArray();
        Assert.Equal(shape[0], results[0].GetTensorTypeAndShape().Shape[0]);
        return (output, probabilities);
    }

    private void AssertOnnxMatchesForward(string name, ModelSpec spec, LossKind loss, int seed)
    {
        var parameters = TestModels.RandomParameters(spec, seed);
        var onnx = OnnxExport.ToBytes(spec, parameters, loss);
        var model = new Model(spec);
        var k = model.OutputShape.Size;
        foreach (var batch in new[] { 1, 9 })
        {
            var x = TestModels.RandomInputs(spec, batch, seed + batch);
            var expected = TestModels.Forward(spec, parameters, x, batch);
            var expectedProbabilities = new float[expected.Length];
            Loss.Create(loss).ToProbabilities(expected, expectedProbabilities, batch, k);
            var (output, probabilities) = RunOnnx(onnx, spec, x, batch);
            var diff = TestModels.MaxAbsDiff(expected, output);
            var diffP = TestModels.MaxAbsDiff(expectedProbabilities, probabilities);
            log.WriteLine($"{name}, batch {batch}: max |ORT - Forward| = {diff:E2} (output), {diffP:E2} (probabilities); {onnx.Length} bytes");
            Assert.True(diff <= Tolerance, $"{name} batch {batch}: output differs by {diff} (> {Tolerance})");
            Assert.True(diffP <= Tolerance, $"{name} batch {batch}: probabilities differ by {diffP} (> {Tolerance})");
            // The outputs are not trivially equal (e.g. all zeros): different samples give different rows.
            if (batch > 1) Assert.NotEqual(output[..k], output[k..(2 * k)]);
        }
    }

    [Fact]
    public void Exported_penguins_mlp_in_onnx_runtime_matches_Forward_and_softmaxes_the_logits()
        => AssertOnnxMatchesForward("4-5-5-3 MLP", TestModels.PenguinsMlp, LossKind.SoftmaxCrossEntropy, 11);

    [Fact]
    public void Exported_bigger_mlp_with_tanh_sigmoid_dropout_and_softmax_matches_Forward()
        => AssertOnnxMatchesForward("144-64-48-32-10 MLP", TestModels.BigMlp, LossKind.MeanSquaredError, 12);

    [Fact]
    public void Exported_cnn_with_padded_stride_2_conv_and_overlapping_maxpool_matches_Forward()
        => AssertOnnxMatchesForward("CNN", TestModels.Cnn, LossKind.MeanSquaredError, 13);

    [Fact]
    public void Exported_graph_declares_a_symbolic_batch_dimension_N_and_the_sample_shape()
    {
        var onnx = OnnxExport.ToBytes(TestModels.Cnn, TestModels.RandomParameters(TestModels.Cnn, 1), LossKind.SoftmaxCrossEntropy);
        using var session = new InferenceSession(onnx);
        var input = session.InputMetadata[OnnxExport.InputName];
        Assert.Equal([-1, 3, 11, 11], input.Dimensions);
        Assert.Equal(OnnxExport.BatchDimension, input.SymbolicDimensions[0]);
        var output = session.OutputMetadata[OnnxExport.OutputName];
        Assert.Equal([-1, 4], output.Dimensions);
        Assert.Equal(["disttrain.loss", "disttrain.model_spec"], session.ModelMetadata.CustomMetadataMap.Keys.Order());
        Assert.Equal(TestModels.Cnn, ModelSpec.FromJson(session.ModelMetadata.CustomMetadataMap["disttrain.model_spec"]));
    }

    [Fact]
    public void Export_refuses_a_parameter_buffer_of_the_wrong_length()
    {
        var e = Assert.Throws<ArgumentException>(() => OnnxExport.ToBytes(TestModels.PenguinsMlp, new float[10], LossKind.SoftmaxCrossEntropy));
        Assert.Contains("73", e.Message);
    }
}
