using Akka.Event;

namespace DistTrain.Cluster.Transport;

/// <summary>
/// The same-host probe at the start of a data-plane connection: the connecting side creates a ring file and
/// offers it in its preamble; the accepting side maps it if it can and answers one byte. That answer is the only
/// same-host test (nothing is guessed from addresses): peers on other machines or in other containers (another
/// /dev/shm) cannot open the file and the connection stays plain TCP.
/// </summary>
internal static class SharedMemoryHandshake
{
    /// <summary>
    /// Connecting side: writes the preamble (with an offer when shared memory is on and a ring can be created)
    /// and waits up to connect-timeout for the answer. Returns the ring when the peer mapped it (its file is then
    /// already deleted) and a few words for the log line either way. Throws when the peer closed the connection.
    /// </summary>
    public static async Task<(SharedMemoryRing? Ring, string How)> OfferAsync(Stream stream, string localAddress, DataPlaneSettings settings)
    {
        SharedMemoryRing? ring = null;
        SharedMemoryOffer? offer = null;
        string? why = null;
        if (!settings.SharedMemory) why = $"{DataPlaneSettings.ConfigPath}.shared-memory = off";
        else if (!Directory.Exists(settings.SharedMemoryDirectory)) why = $"no {settings.SharedMemoryDirectory} on this machine";
        else
        {
            try
            {
                ring = SharedMemoryRing.Create(settings.SharedMemoryDirectory, settings.SharedMemoryRingBytes, out offer);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                why = $"cannot create a ring in {settings.SharedMemoryDirectory}: {e.Message}";
            }
        }
        try
        {
            var preamble = new byte[DataPlaneFrame.PreambleSize(localAddress, offer)];
            DataPlaneFrame.WritePreamble(preamble, localAddress, offer);
            await stream.WriteAsync(preamble).ConfigureAwait(false);
            if (ring is null) return (null, $"plain TCP: {why}");
            var answer = new byte[1];
            int n;
            using (var cts = new CancellationTokenSource(settings.ConnectTimeout))
            {
                try
                {
                    n = await stream.ReadAsync(answer, cts.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    ring.Dispose();
                    return (null, $"plain TCP: the peer did not answer the shared-memory offer within {settings.ConnectTimeout}");
                }
            }
            if (n == 0)
                throw new IOException("the peer closed the connection after the preamble (a build with another data-plane version? see its log)");
            if (answer[0] != DataPlaneFrame.RingAccepted)
            {
                ring.Dispose();
                return (null, "plain TCP: the peer did not map the shared-memory ring (another machine or container, or shared memory off there; see its log)");
            }
            ring.Unlink(); // both mappings stay; nothing is left in /dev/shm whatever happens next
            return (ring, $"shared-memory ring of {settings.SharedMemoryRingBytes >> 10} KiB");
        }
        catch
        {
            ring?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Accepting side: maps the offered ring when shared memory is on here and the file is the peer's, answers
    /// accordingly, and returns the ring (null after logging why not).
    /// </summary>
    public static SharedMemoryRing? Answer(Stream stream, SharedMemoryOffer offer, DataPlaneSettings settings, ILoggingAdapter log, string peerName)
    {
        string? why = null;
        var ring = settings.SharedMemory
            ? SharedMemoryRing.Open(offer, settings.SharedMemoryDirectory, out why)
            : null;
        if (!settings.SharedMemory) why = $"{DataPlaneSettings.ConfigPath}.shared-memory = off here";
        try
        {
            stream.WriteByte(ring is null ? DataPlaneFrame.RingDeclined : DataPlaneFrame.RingAccepted);
        }
        catch
        {
            ring?.Dispose();
            throw;
        }
        if (ring is null) log.Info("data plane: the connection from {0} stays plain TCP: {1}", peerName, why);
        return ring;
    }
}
