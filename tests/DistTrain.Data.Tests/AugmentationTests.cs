using DistTrain.Core.Layers;
using DistTrain.Data.Images;

namespace DistTrain.Data.Tests;

// Inside namespace DistTrain.Data.*, "Augmentation" would name the namespace; import the type here.
using DistTrain.Data.Augmentation;

public sealed class AugmentationTests
{
    private const int H = 5, W = 6;

    /// <summary>Eight distinct 2×5×6 images: every pixel value differs so any moved pixel shows.</summary>
    private static ImageDataset Images(Augmentation? augmentation)
    {
        const int count = 8, size = 2 * H * W;
        var pixels = new byte[count * size];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)(1 + (i * 37) % 250);
        var labels = new int[count];
        return new ImageDataset(pixels, count, 2, H, W, labels, ["x"], augmentation: augmentation);
    }

    private static float[] Copy(ImageDataset data, int[] indices, BatchContext ctx)
    {
        var dst = new float[indices.Length * data.SampleShape.Size];
        data.CopyInputs(indices, dst, ctx);
        return dst;
    }

    private static BatchContext Training(int[] ids, ulong seed = 11, int epoch = 3) => new(ids.Length, true, seed, epoch, ids);

    private static readonly Augmentation Everything = new(horizontalFlip: 0.5f, verticalMirror: 0.5f, skew: 0.15f, skewProbability: 0.5f, shift: 2, shiftProbability: 0.5f);

    [Fact]
    public void A_sample_gets_the_same_augmentation_whatever_batch_and_row_it_is_in()
    {
        var data = Images(Everything);
        var size = data.SampleShape.Size;

        var alone = Copy(data, [5], Training([5]));
        var inBatch = Copy(data, [2, 7, 5, 0], Training([2, 7, 5, 0]));

        Assert.Equal(alone, inBatch.AsSpan(2 * size, size).ToArray());
    }

    [Fact]
    public void The_draw_depends_on_seed_epoch_and_sample()
    {
        var a = new Augmentation(horizontalFlip: 0.5f, shift: 3, shiftProbability: 1);
        var draws = new HashSet<AugmentationDraw>();
        for (var s = 0; s < 20; s++) draws.Add(a.Draw(1, 0, s));

        Assert.Equal(a.Draw(1, 2, 9), a.Draw(1, 2, 9));
        Assert.True(draws.Count > 10, $"only {draws.Count} distinct draws over 20 samples");
        var epochs = 0;
        var seeds = 0;
        for (var s = 0; s < 20; s++)
        {
            if (a.Draw(1, 0, s) != a.Draw(1, 1, s)) epochs++;
            if (a.Draw(1, 0, s) != a.Draw(2, 0, s)) seeds++;
        }
        Assert.True(epochs > 10 && seeds > 10, $"epoch changed {epochs}, seed changed {seeds} of 20 draws");
    }

    [Fact]
    public void A_horizontal_flip_reverses_every_row()
    {
        var plain = Images(null);
        var flipped = Images(new Augmentation(horizontalFlip: 1));

        var x = Copy(plain, [1], Training([1]));
        var y = Copy(flipped, [1], Training([1]));

        for (var c = 0; c < 2; c++)
            for (var r = 0; r < H; r++)
                for (var col = 0; col < W; col++)
                    Assert.Equal(x[(c * H + r) * W + (W - 1 - col)], y[(c * H + r) * W + col]);
    }

    [Theory]
    [InlineData(1f, 0f)]
    [InlineData(0f, 1f)]
    public void Flipping_or_mirroring_twice_gives_back_the_original(float flip, float mirror)
    {
        var augmentation = new Augmentation(horizontalFlip: flip, verticalMirror: mirror);
        var original = Images(augmentation);
        var once = Copy(original, [3], Training([3]));
        Assert.NotEqual(Copy(original, [3], BatchContext.Inference(1)), once);

        var bytes = new byte[once.Length];
        for (var i = 0; i < bytes.Length; i++) bytes[i] = (byte)MathF.Round(once[i] * 255);
        var flippedData = new ImageDataset(bytes, 1, 2, H, W, new int[1], ["x"], augmentation: augmentation);
        var twice = Copy(flippedData, [0], Training([3]));

        Assert.Equal(Copy(original, [3], BatchContext.Inference(1)), twice);
    }

    [Fact]
    public void A_shift_moves_pixels_by_the_drawn_offset_and_fills_with_zero()
    {
        var augmentation = new Augmentation(shift: 2, shiftProbability: 1);
        var data = Images(augmentation);
        var plain = Copy(Images(null), [4], BatchContext.Inference(1));
        var sample = 0;
        while (augmentation.Draw(11, 3, sample) is { ShiftX: 0 } or { ShiftY: 0 }) sample++;
        var draw = augmentation.Draw(11, 3, sample);

        var shifted = Copy(data, [4], Training([sample]));

        for (var c = 0; c < 2; c++)
            for (var y = 0; y < H; y++)
                for (var x = 0; x < W; x++)
                {
                    int sx = x - draw.ShiftX, sy = y - draw.ShiftY;
                    var expected = sx is >= 0 and < W && sy is >= 0 and < H ? plain[(c * H + sy) * W + sx] : 0f;
                    Assert.Equal(expected, shifted[(c * H + y) * W + x]);
                }
    }

    [Fact]
    public void A_skew_leaves_the_middle_row_in_place_and_moves_the_others()
    {
        var augmentation = new Augmentation(skew: 0.3f, skewProbability: 1);
        var data = Images(augmentation); // H = 5: row 2 is the centre
        var plain = Copy(Images(null), [0], BatchContext.Inference(1));

        var skewed = Copy(data, [0], Training([0]));

        Assert.NotEqual(0f, augmentation.Draw(11, 3, 0).Shear);
        Assert.Equal(plain.AsSpan(2 * W, W).ToArray(), skewed.AsSpan(2 * W, W).ToArray());
        Assert.NotEqual(plain.AsSpan(0, W).ToArray(), skewed.AsSpan(0, W).ToArray());
    }

    [Fact]
    public void Probability_zero_leaves_images_unchanged_even_with_large_amounts()
    {
        var data = Images(new Augmentation(skew: 0.5f, skewProbability: 0, shift: 3, shiftProbability: 0));
        int[] all = [0, 1, 2, 3, 4, 5, 6, 7];

        Assert.Equal(Copy(Images(null), all, BatchContext.Inference(8)), Copy(data, all, Training(all)));
    }

    [Fact]
    public void Inference_mode_never_augments()
    {
        var data = Images(new Augmentation(horizontalFlip: 1, verticalMirror: 1, skew: 0.2f, skewProbability: 1, shift: 2, shiftProbability: 1));
        int[] all = [0, 1, 2, 3, 4, 5, 6, 7];

        var inference = Copy(data, all, new BatchContext(8, Training: false, Seed: 11, Epoch: 3, SampleIds: all));

        Assert.Equal(Copy(Images(null), all, BatchContext.Inference(8)), inference);
        Assert.NotEqual(inference, Copy(data, all, Training(all)));
    }

    [Fact]
    public void CopyInputs_with_augmentation_allocates_nothing()
    {
        var data = Images(Everything);
        int[] ids = [0, 1, 2, 3, 4, 5, 6, 7];
        var dst = new float[8 * data.SampleShape.Size];
        var ctx = Training(ids);
        data.CopyInputs(ids, dst, ctx); // warm up (JIT)

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var epoch = 0; epoch < 5; epoch++) data.CopyInputs(ids, dst, ctx with { Epoch = epoch });
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Invalid_settings_are_rejected()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Augmentation(horizontalFlip: 1.5f));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Augmentation(shift: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Augmentation(skew: float.NaN));
        Assert.Throws<ArgumentOutOfRangeException>(() => Everything with { ShiftProbability = -0.1f });
    }
}
