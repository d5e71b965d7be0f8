using System.Runtime.CompilerServices;

namespace DistTrain.Cluster.Serialization;

/// <summary>
/// Exact-length float arrays for the tensors a node receives over the data plane (parameters on a worker,
/// gradients on the parameter server), handed back by the actor that consumed them. Without it every
/// received tensor is a fresh array (0.94 MB for the W2 MLP): a few per step, each touched for the first time
/// by the decode copy, and alive across a step, so gen-0 collections promote them (docs/benchmarks.md,
/// "Per-step CPU of the multi-process step").
/// <para>
/// Ownership: <see cref="Rent"/> hands out an array and remembers it (weakly); <see cref="Return"/> takes
/// back only an array this pool handed out and has not taken back since. Anything else (a local-mode
/// worker's gradient buffer, the parameter server's master parameters, an array decoded by Akka.Remote's
/// serializer, a second return of the same array) is refused, so a consumer may return whatever array its
/// message carried without knowing where it came from. An array never returned is simply garbage. The caller
/// of <see cref="Return"/> promises that nothing reads or writes the array afterwards.
/// </para>
/// <para>
/// Bounded: at most <see cref="MaxPerLength"/> idle arrays per length and <see cref="MaxLengths"/> lengths
/// (a new length evicts the least recently used one). Thread-safe: the data plane's receive threads rent, actors return.
/// </para>
/// </summary>
public sealed class ReceiveBufferPool
{
    /// <summary>Idle arrays kept per length: a step holds one per shard on the ps and two on a worker.</summary>
    public const int MaxPerLength = 4;

    /// <summary>Distinct lengths kept (trainable and full parameter counts, and a spare).</summary>
    public const int MaxLengths = 4;

    private readonly object _lock = new();
    private readonly List<Bucket> _buckets = new(MaxLengths);
    private readonly ConditionalWeakTable<float[], object> _lent = new();
    private static readonly object LentMarker = new();
    private long _rented, _reused, _returned, _refused;

    /// <summary>Counters: arrays rented, of those served from the pool, returned and accepted, returns refused.</summary>
    public (long Rented, long Reused, long Returned, long Refused) Stats
    {
        get
        {
            lock (_lock) return (_rented, _reused, _returned, _refused);
        }
    }

    /// <summary>Idle arrays of <paramref name="length"/> held now (for tests).</summary>
    public int IdleCount(int length)
    {
        lock (_lock)
        {
            foreach (var b in _buckets) if (b.Length == length) return b.Idle.Count;
            return 0;
        }
    }

    /// <summary>
    /// An array of exactly <paramref name="length"/> elements with undefined contents: a returned one when
    /// the pool has one, else a new one. The caller overwrites every element.
    /// </summary>
    public float[] Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (length == 0) return []; // nothing to pool (a compressed gradient's empty float field)
        float[]? a = null;
        lock (_lock)
        {
            _rented++;
            for (var i = 0; i < _buckets.Count; i++)
            {
                var b = _buckets[i];
                if (b.Length != length) continue;
                b.LastUsed = _rented;
                if (b.Idle.Count > 0)
                {
                    a = b.Idle.Pop();
                    _reused++;
                }
                break;
            }
        }
        a ??= GC.AllocateUninitializedArray<float>(length);
        _lent.AddOrUpdate(a, LentMarker);
        return a;
    }

    /// <summary>
    /// Takes <paramref name="array"/> back when this pool lent it and it is still out; returns whether it
    /// did. Refused arrays are left alone (see the class remarks).
    /// </summary>
    public bool Return(float[]? array)
    {
        if (array is null || array.Length == 0 || !_lent.Remove(array))
        {
            Interlocked.Increment(ref _refused);
            return false;
        }
        lock (_lock)
        {
            _returned++;
            Bucket? bucket = null;
            foreach (var b in _buckets)
            {
                if (b.Length != array.Length) continue;
                bucket = b;
                break;
            }
            if (bucket is null)
            {
                if (_buckets.Count == MaxLengths)
                {
                    var oldest = 0;
                    for (var i = 1; i < _buckets.Count; i++) if (_buckets[i].LastUsed < _buckets[oldest].LastUsed) oldest = i;
                    _buckets.RemoveAt(oldest);
                }
                bucket = new Bucket(array.Length) { LastUsed = _rented };
                _buckets.Add(bucket);
            }
            if (bucket.Idle.Count < MaxPerLength) bucket.Idle.Push(array);
        }
        return true;
    }

    private sealed class Bucket(int length)
    {
        public readonly int Length = length;
        public readonly Stack<float[]> Idle = new(MaxPerLength);
        public long LastUsed;
    }
}
