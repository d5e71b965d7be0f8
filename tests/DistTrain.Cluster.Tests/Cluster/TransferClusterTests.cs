using DistTrain.Cluster.Hosting;
using DistTrain.Cluster.Jobs;
using DistTrain.Cluster.Settings;
using DistTrain.Core.Checkpoints;
using DistTrain.Core.Losses;
using DistTrain.Core.Models;

namespace DistTrain.Cluster.Tests.Cluster;

public sealed class TransferClusterTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("disttrain-transfer-cluster-");

    public void Dispose() => _dir.Delete(recursive: true);

    [Fact]
    public async Task A_transfer_job_on_a_cluster_gives_the_parameters_of_local_mode()
    {
        // Base: the blob MLP at its seeded values, written where every node (here: one machine) reads it.
        var baseModel = new Model(TestJobs.Mlp);
        baseModel.InitializeParameters(3);
        var ck = new Checkpoint(TestJobs.Mlp, baseModel.Parameters, null, null, new CheckpointMetadata(1, 1, 3, ["a", "b", "c"], LossKind.SoftmaxCrossEntropy));
        var path = Path.Combine(_dir.FullName, "base.dtck");
        CheckpointFile.Write(path, ck);
        var t = Transfer.WithNewHead(TestJobs.Mlp, classes: 3, hidden: [6]);
        var spec = Transfer.Freeze(t.Spec, "base", t.BaseLayers);
        var job = TestJobs.Blobs(epochs: 2, batch: 40) with { Model = spec, Base = new BaseModel(path, Transfer.LoadBase(new Model(spec), ck)) };

        var loader = new BlobLoader();
        var local = await LocalMode.RunAsync(job, 2, loader);
        await using var ps = ClusterNode.Start(new NodeSettings(["seed", "ps"], Port: 0, MinWorkers: 2), ThreeNodeClusterTests.TestConfig(), loader);
        await using var w = ClusterNode.Start(new NodeSettings(["worker"], Port: 0, Seeds: [ps.Address.ToString()], Workers: 2), ThreeNodeClusterTests.TestConfig(), loader);
        await Task.WhenAll(ps.WhenUp(), w.WhenUp()).WaitAsync(TimeSpan.FromSeconds(30));
        var remote = await TrainingTopology.RunJob(ps.System, ps.Coordinator, job).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(local.ParametersSha256, remote.ParametersSha256);
        Assert.Equal(local.TestPredictions, remote.TestPredictions);
    }
}
