namespace DistTrain.Cluster.State;

public enum RegistrationOutcome
{
    New,
    Replaced,
    Known,
}

public enum WorkerStatus
{
    Registered,
    Preparing,
    Ready,
    Refused,
}

/// <summary>
/// The coordinator's view of its workers, keyed by a stable id and kept in id order so shard assignment
/// is deterministic. Generic over the handle type so it is tested without an ActorSystem.
/// </summary>
public sealed class WorkerRegistry<THandle> where THandle : notnull
{
    private readonly SortedDictionary<string, (THandle Handle, WorkerStatus Status)> _workers = new(StringComparer.Ordinal);

    public int Count => _workers.Count;

    /// <summary>
    /// Adds a worker, or replaces one that restarted under the same id (new handle, status reset).
    /// Registering the same id with the same handle again (a periodic re-announcement) changes nothing.
    /// </summary>
    public RegistrationOutcome Register(string id, THandle handle)
    {
        if (_workers.TryGetValue(id, out var known))
        {
            if (EqualityComparer<THandle>.Default.Equals(known.Handle, handle)) return RegistrationOutcome.Known;
            _workers[id] = (handle, WorkerStatus.Registered);
            return RegistrationOutcome.Replaced;
        }
        _workers[id] = (handle, WorkerStatus.Registered);
        return RegistrationOutcome.New;
    }

    public bool Remove(string id) => _workers.Remove(id);

    public bool TryGet(string id, out THandle handle, out WorkerStatus status)
    {
        if (_workers.TryGetValue(id, out var w)) { handle = w.Handle; status = w.Status; return true; }
        handle = default!;
        status = default;
        return false;
    }

    public string? FindId(THandle handle)
    {
        foreach (var (id, w) in _workers) if (EqualityComparer<THandle>.Default.Equals(w.Handle, handle)) return id;
        return null;
    }

    public void SetStatus(string id, WorkerStatus status)
    {
        if (_workers.TryGetValue(id, out var w)) _workers[id] = (w.Handle, status);
    }

    /// <summary>Workers that may receive work now, in id order.</summary>
    public IReadOnlyList<(string Id, THandle Handle)> Ready()
    {
        var list = new List<(string, THandle)>();
        foreach (var (id, w) in _workers) if (w.Status == WorkerStatus.Ready) list.Add((id, w.Handle));
        return list;
    }

    public IReadOnlyList<(string Id, THandle Handle, WorkerStatus Status)> All()
    {
        var list = new List<(string, THandle, WorkerStatus)>();
        foreach (var (id, w) in _workers) list.Add((id, w.Handle, w.Status));
        return list;
    }
}
