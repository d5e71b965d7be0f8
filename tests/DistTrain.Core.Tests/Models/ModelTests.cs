using System.Text;
using DistTrain.Core.Kernels;
using DistTrain.Core.Layers;
using DistTrain.Core.Models;
using DistTrain.Core.Tests.Layers;

namespace DistTrain.Core.Tests.Models;

public class ModelTests
{
    private static ModelSpec SmallCnn() => new([2, 6, 6],
    [
        new Conv2DSpec(3, 3, Stride: 1, Padding: 1),
        new ActivationSpec(ActivationKind.ReLU),
        new MaxPool2DSpec(2),
        new FlattenSpec(),
        new DenseSpec(4),
    ]);

    /// <summary>
    /// Finite differences over every parameter of a model, for L = Σ w ⊙ output, through Model.Forward/Backward.
    /// ReLU and max-pool make L piecewise smooth: when a perturbation crosses a kink the central difference is
    /// off while one one-sided difference still matches. Such a position is accepted only when the two
    /// one-sided differences visibly disagree (the kink is real) and one of them matches, and at most 1 in 50
    /// positions may need that.
    /// </summary>
    private static void CheckModelGradients(Model model, float[] x, BatchContext ctx, double eps, double rtol = 1e-2, double atol = 1e-3)
    {
        var n = ctx.BatchSize;
        var w = GradientCheck.RandomArray(n * model.OutputShape.Size, seed: 99);
        double Loss()
        {
            var y = model.Forward(x, ctx);
            var s = 0.0;
            for (var i = 0; i < y.Length; i++) s += (double)w[i] * y[i];
            return s;
        }
        bool Close(double a, double b) => Math.Abs(a - b) <= rtol * Math.Max(Math.Abs(a), Math.Abs(b)) + atol;
        model.Forward(x, ctx);
        model.ZeroGradients();
        model.Backward(w, ctx);
        var analytic = (float[])model.Gradients.Clone();
        Assert.Contains(analytic, g => g != 0f);
        var p = model.Parameters;
        var l0 = Loss();
        var failures = new StringBuilder();
        var kinks = 0;
        for (var i = 0; i < p.Length; i++)
        {
            var saved = p[i];
            p[i] = (float)(saved + eps);
            var plus = Loss();
            p[i] = (float)(saved - eps);
            var minus = Loss();
            p[i] = saved;
            var central = (plus - minus) / (2 * eps);
            if (Close(central, analytic[i])) continue;
            var forward = (plus - l0) / eps;
            var backward = (l0 - minus) / eps;
            if (!Close(forward, backward) && (Close(forward, analytic[i]) || Close(backward, analytic[i])))
            {
                kinks++;
                continue;
            }
            failures.AppendLine($"  parameter[{i}]: numeric {central:G6} (one-sided {forward:G6} / {backward:G6}), analytic {analytic[i]:G6}");
        }
        Assert.True(failures.Length == 0, $"Model gradient check failed:\n{failures}");
        Assert.True(kinks <= Math.Max(1, p.Length / 50), $"{kinks} of {p.Length} parameters only matched one-sided; too many for kinks.");
    }

    [Theory]
    [MemberData(nameof(Gemms.Names), MemberType = typeof(Gemms))]
    public void Small_cnn_model_backward_matches_finite_differences(string gemm)
    {
        var model = new Model(SmallCnn(), Gemms.Get(gemm));
        model.InitializeParameters(seed: 4);
        var x = GradientCheck.RandomArray(3 * 72, seed: 5);
        CheckModelGradients(model, x, new BatchContext(3, Training: true), eps: 1e-3);
    }

    [Fact]
    public void Model_with_every_layer_kind_backward_matches_finite_differences_in_training()
    {
        var model = new Model(ModelSpecTests.EveryLayerKind(), Gemm.Default);
        model.InitializeParameters(seed: 6);
        var x = GradientCheck.RandomArray(2 * 120, seed: 7, scale: 2);
        CheckModelGradients(model, x, new BatchContext(2, Training: true, Seed: 3, Epoch: 1, SampleIds: [10, 11]), eps: 1e-3);
    }

    [Fact]
    public void ModelSummary_of_a_cnn_lists_output_shapes_and_parameter_counts()
    {
        var spec = new ModelSpec([1, 28, 28],
        [
            new Conv2DSpec(32, 3, Padding: 1) { Name = "conv1" },
            new ActivationSpec(ActivationKind.ReLU),
            new MaxPool2DSpec(2),
            new Conv2DSpec(64, 3, Padding: 1) { Name = "conv2" },
            new ActivationSpec(ActivationKind.ReLU),
            new MaxPool2DSpec(2),
            new DropoutSpec(0.25f),
            new FlattenSpec(),
            new DenseSpec(128) { Name = "fc1" },
            new ActivationSpec(ActivationKind.ReLU),
            new DenseSpec(10) { Name = "fc2" },
        ]);
        var summary = new Model(spec).Summary();
        static int Conv(int cin, int cout, int k) => cout * cin * k * k + cout;
        static int Dense(int nin, int nout) => nout * nin + nout;
        int[][] shapes =
        [
            [32, 28, 28], [32, 28, 28], [32, 14, 14],
            [64, 14, 14], [64, 14, 14], [64, 7, 7], [64, 7, 7],
            [64 * 7 * 7], [128], [128], [10],
        ];
        int[] counts = [Conv(1, 32, 3), 0, 0, Conv(32, 64, 3), 0, 0, 0, 0, Dense(64 * 7 * 7, 128), 0, Dense(128, 10)];
        Assert.Equal(320, counts[0]);
        Assert.Equal(shapes.Length, summary.Rows.Count);
        for (var i = 0; i < shapes.Length; i++)
        {
            Assert.Equal(shapes[i], summary.Rows[i].OutputShape);
            Assert.Equal(counts[i], summary.Rows[i].Parameters);
        }
        Assert.Equal(counts.Sum(), summary.TotalParameters);
        Assert.Equal(counts.Sum(), summary.TrainableParameters);
        var text = summary.ToString();
        Assert.Contains("conv1 (Conv2D)", text);
        Assert.Contains("(None, 64, 7, 7)", text);
        Assert.Contains("18,496", text);
        Assert.Contains($"Total params: {counts.Sum():N0}", text);
    }

    [Fact]
    public void Model_rejects_a_dense_layer_on_an_image_input_naming_the_layer()
    {
        var spec = new ModelSpec([1, 8, 8], [new Conv2DSpec(4, 3), new DenseSpec(10) { Name = "fc_no_flatten" }]);
        var e = Assert.Throws<ArgumentException>(() => new Model(spec));
        Assert.Contains("fc_no_flatten", e.Message);
        Assert.Contains("[4, 6, 6]", e.Message);
    }

    [Fact]
    public void Model_rejects_a_convolution_that_does_not_fit_its_input_naming_the_layer()
    {
        var spec = new ModelSpec([1, 8, 8], [new MaxPool2DSpec(4), new Conv2DSpec(4, 5) { Name = "conv_too_big" }]);
        var e = Assert.Throws<ArgumentException>(() => new Model(spec));
        Assert.Contains("conv_too_big", e.Message);
    }

    [Fact]
    public void Model_dropout_changes_outputs_in_training_only()
    {
        var spec = new ModelSpec([20], [new DenseSpec(30), new DropoutSpec(0.5f), new DenseSpec(5)]);
        var model = new Model(spec, new NaiveGemm());
        model.InitializeParameters(seed: 1);
        var x = GradientCheck.RandomArray(40, seed: 2);
        var inference = model.Forward(x, BatchContext.Inference(2)).ToArray();
        Assert.Equal(inference, model.Forward(x, BatchContext.Inference(2)).ToArray());
        var training = model.Forward(x, new BatchContext(2, Training: true, Seed: 5)).ToArray();
        Assert.NotEqual(inference, training);
    }
}
