using System.IO.MemoryMappedFiles;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace DistTrain.Cluster.Transport;

/// <summary>What a connecting data plane offers after its preamble: a ring file it created, its nonce and capacity.</summary>
public sealed record SharedMemoryOffer(string Path, byte[] Nonce, int Capacity)
{
    public const int NonceBytes = 16;
}

/// <summary>
/// A single-producer, single-consumer byte ring in a memory-mapped file under /dev/shm, under one data-plane
/// connection whose two ends share a machine: the float payload of a tensor frame goes through it (one copy in,
/// one copy out into the receive pool's array) and the socket carries only the frame's head
/// (<see cref="DataPlaneFrame.RingKind"/>), which also tells the receiver where the payload is.
/// <para>
/// File layout: bytes 0-15 a random nonce (the receiver proves it mapped the sender's file), 16-23 the
/// capacity (int64), 64-71 the receiver's read position (int64, its own cache line), data from
/// <see cref="HeaderBytes"/>. Positions are monotonic byte counts; position p is at data offset p mod capacity.
/// The sender keeps its write position to itself and puts every payload in one contiguous piece (skipping to
/// the ring's start when it would wrap, or when the ring is empty so that payloads reuse warm memory; the
/// frame's end position covers the skipped bytes); it waits while the new end − read position exceeds the capacity. The receiver copies the payload out and then publishes the
/// frame's end as its read position (a volatile write). Frames stay in order on the connection, so the read
/// position only grows. The socket's send and receive order the payload's bytes before the frame head.
/// </para>
/// <para>
/// Lifetime: the sender creates the file (owner read/write only) and deletes its name as soon as the receiver
/// answered (mapped or not), so nothing is left in /dev/shm once a connection is up, whatever happens to
/// either process later; both mappings stay valid until each side disposes its ring.
/// </para>
/// </summary>
public sealed unsafe class SharedMemoryRing : IDisposable
{
    public const int HeaderBytes = 128;
    private const int CapacityAt = 16, ReadPosAt = 64;

    /// <summary>The smallest and largest capacity a node creates or accepts.</summary>
    public const int MinCapacity = 64 << 10, MaxCapacity = 1 << 30;

    /// <summary>Ring files are named FilePrefix + pid + guid; a receiver opens nothing else.</summary>
    public const string FilePrefix = "disttrain-dp-";

    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly byte* _base;
    private string? _path;
    private long _writePos;  // sender only
    private long _floor;     // sender only: a position up to which the ring is known free (set by an empty-ring skip)
    private long _readPos;   // receiver only (its own copy of what it published)
    private int _disposed;

    private SharedMemoryRing(MemoryMappedFile file, MemoryMappedViewAccessor view, int capacity, string path)
    {
        _file = file;
        _view = view;
        Capacity = capacity;
        _path = path;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _base = p + view.PointerOffset;
    }

    public int Capacity { get; }

    /// <summary>The largest payload that goes through the ring; a larger one travels inline on the socket.</summary>
    public int MaxPayload => Capacity / 2;

    /// <summary>The ring file's name while it still has one (the sender's until the receiver answered).</summary>
    public string? Path => _path;

    private ref long ReadPosition => ref Unsafe.AsRef<long>(_base + ReadPosAt);

    /// <summary>
    /// Creates a ring file of <paramref name="capacity"/> data bytes in <paramref name="directory"/> with a fresh
    /// nonce (sender side). Throws IOException / UnauthorizedAccessException when the directory does not take it.
    /// </summary>
    public static SharedMemoryRing Create(string directory, int capacity, out SharedMemoryOffer offer)
    {
        if (capacity is < MinCapacity or > MaxCapacity)
            throw new ArgumentOutOfRangeException(nameof(capacity), $"a shared-memory ring holds {MinCapacity}-{MaxCapacity} bytes, not {capacity}");
        var path = System.IO.Path.Combine(directory, $"{FilePrefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
        // The whole file is allocated now (fallocate): a sparse file in a tmpfs too small for it (a container's 64 MiB
        // /dev/shm shared by several nodes) maps fine, and the first write past the free space kills the process with
        // SIGBUS. Allocated up front, it fails here with an IOException instead, and the connection stays plain TCP.
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.ReadWrite, Share = FileShare.ReadWrite | FileShare.Delete,
            PreallocationSize = HeaderBytes + (long)capacity,
        };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite; // tensors stay the user's
        FileStream fs;
        try
        {
            fs = new FileStream(path, options);
        }
        catch (IOException)
        {
            TryDelete(path);
            throw;
        }
        try
        {
            fs.SetLength(HeaderBytes + (long)capacity); // a file system without fallocate ignores PreallocationSize
            var file = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
            var view = file.CreateViewAccessor(0, HeaderBytes + (long)capacity, MemoryMappedFileAccess.ReadWrite);
            var ring = new SharedMemoryRing(file, view, capacity, path);
            var nonce = RandomNumberGenerator.GetBytes(SharedMemoryOffer.NonceBytes);
            nonce.CopyTo(new Span<byte>(ring._base, nonce.Length));
            Unsafe.WriteUnaligned(ring._base + CapacityAt, (long)capacity);
            Volatile.Write(ref ring.ReadPosition, 0);
            offer = new SharedMemoryOffer(path, nonce, capacity);
            return ring;
        }
        catch
        {
            fs.Dispose();
            TryDelete(path);
            throw;
        }
    }

    /// <summary>
    /// Maps the ring a peer offered (receiver side), or returns null and says why: the name is not a DistTrain
    /// ring file in <paramref name="directory"/>, the file cannot be opened (another machine, container or user),
    /// its size or nonce differ from the offer.
    /// </summary>
    public static SharedMemoryRing? Open(SharedMemoryOffer offer, string directory, out string? why)
    {
        why = null;
        var name = System.IO.Path.GetFileName(offer.Path);
        if (!name.StartsWith(FilePrefix, StringComparison.Ordinal) || name.Length > 128
            || !string.Equals(System.IO.Path.GetDirectoryName(offer.Path), directory.TrimEnd('/'), StringComparison.Ordinal))
        {
            why = $"the offered file '{offer.Path}' is not a {FilePrefix}* file in {directory}";
            return null;
        }
        if (offer.Capacity is < MinCapacity or > MaxCapacity || offer.Nonce.Length != SharedMemoryOffer.NonceBytes)
        {
            why = $"the offered ring of {offer.Capacity} bytes is outside {MinCapacity}-{MaxCapacity}";
            return null;
        }
        FileStream fs;
        try
        {
            if (new FileInfo(offer.Path).LinkTarget is not null)
            {
                why = $"{offer.Path} is a symbolic link, not a ring file";
                return null;
            }
            fs = new FileStream(offer.Path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            why = $"cannot open {offer.Path} ({e.Message}); the peer is on another machine or in another container";
            return null;
        }
        try
        {
            // The sender creates its ring owner read/write only; a file with other permissions is not one of ours.
            if (!OperatingSystem.IsWindows() && File.GetUnixFileMode(fs.SafeFileHandle) != (UnixFileMode.UserRead | UnixFileMode.UserWrite))
            {
                why = $"{offer.Path} has permissions {File.GetUnixFileMode(fs.SafeFileHandle)}, expected owner read/write only";
                fs.Dispose();
                return null;
            }
            if (fs.Length != HeaderBytes + (long)offer.Capacity)
            {
                why = $"{offer.Path} holds {fs.Length} bytes, expected {HeaderBytes + (long)offer.Capacity}";
                fs.Dispose();
                return null;
            }
            var file = MemoryMappedFile.CreateFromFile(fs, null, 0, MemoryMappedFileAccess.ReadWrite, HandleInheritability.None, leaveOpen: false);
            var view = file.CreateViewAccessor(0, fs.Length, MemoryMappedFileAccess.ReadWrite);
            var ring = new SharedMemoryRing(file, view, offer.Capacity, offer.Path) { _path = null };
            if (!new ReadOnlySpan<byte>(ring._base, SharedMemoryOffer.NonceBytes).SequenceEqual(offer.Nonce)
                || Unsafe.ReadUnaligned<long>(ring._base + CapacityAt) != offer.Capacity)
            {
                ring.Dispose();
                why = $"{offer.Path} does not carry the offered nonce; it is not the peer's ring";
                return null;
            }
            ring._readPos = Volatile.Read(ref ring.ReadPosition);
            if (ring._readPos != 0)
            {
                ring.Dispose();
                why = $"{offer.Path} is a ring already in use";
                return null;
            }
            return ring;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            fs.Dispose();
            why = $"cannot map {offer.Path} ({e.Message})";
            return null;
        }
    }

    /// <summary>Deletes the ring file's name (the sender, once the receiver answered); the mappings stay valid.</summary>
    public void Unlink()
    {
        if (Interlocked.Exchange(ref _path, null) is { } p) TryDelete(p);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>
    /// Sender: copies <paramref name="payload"/> (at most <see cref="MaxPayload"/> bytes) into the ring, waiting up to
    /// <paramref name="timeout"/> for the receiver to free space; returns false when it did not (nothing written).
    /// <paramref name="offset"/> is where the payload starts in the data area, <paramref name="end"/> the write
    /// position after it (the receiver publishes it as its read position once it copied the payload out).
    /// </summary>
    public bool TryWrite(ReadOnlySpan<byte> payload, TimeSpan timeout, out int offset, out long end)
    {
        var length = payload.Length;
        if ((uint)length > (uint)MaxPayload)
            throw new ArgumentOutOfRangeException(nameof(payload), $"a payload of {length} bytes exceeds the ring's {MaxPayload}-byte limit");
        var start = _writePos;
        var at = (int)(start % Capacity);
        // Skip to the ring's start when the payload would wrap (it stays in one piece), and also when the ring is
        // empty and the skip fits (at >= length): then a receiver that keeps up gets every payload at offset 0,
        // in memory that is still in the caches instead of a fresh part of the ring each time.
        var floor = _floor;
        if (at + length > Capacity)
        {
            start += Capacity - at;
            at = 0;
        }
        else if (at != 0 && at >= length && Volatile.Read(ref ReadPosition) == start)
        {
            start += Capacity - at;
            at = 0;
            floor = start; // all read and the rest of this lap is a hole: the next lap is free up to here
        }
        end = start + length;
        offset = at;
        var ok = false;
        var handle = _view.SafeMemoryMappedViewHandle;
        handle.DangerousAddRef(ref ok); // a concurrent Dispose (DataPlane.Forget) unmaps only after this copy
        try
        {
            if (floor < end - Capacity && !WaitForSpace(end - Capacity, timeout)) return false;
            payload.CopyTo(new Span<byte>(_base + HeaderBytes + at, length));
        }
        finally
        {
            if (ok) handle.DangerousRelease();
        }
        _writePos = end;
        _floor = floor;
        return true;
    }

    private bool WaitForSpace(long needRead, TimeSpan timeout)
    {
        if (Volatile.Read(ref ReadPosition) >= needRead) return true;
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        for (var i = 0; ; i++)
        {
            if (Volatile.Read(ref _disposed) != 0) return false;
            if (i < 64) Thread.SpinWait(20);
            else if (i < 128) Thread.Yield();
            else if (i < 192) Thread.Sleep(0);
            else
            {
                if (Environment.TickCount64 > deadline) return false;
                Thread.Sleep(1);
            }
            if (Volatile.Read(ref ReadPosition) >= needRead) return true;
        }
    }

    /// <summary>
    /// Receiver: checks a ring frame's fields against the ring and what this side consumed so far; null when
    /// they are consistent, else what is wrong (the frame is then malformed and the connection goes).
    /// </summary>
    public string? Check(int offset, int length, long end)
    {
        if (length < 0 || length > MaxPayload) return $"ring payload length {length} outside 0-{MaxPayload}";
        if (offset < 0 || (long)offset + length > Capacity) return $"ring offset {offset} + length {length} outside the {Capacity}-byte ring";
        // Frames come in order: this payload starts where the last one ended or, skipping the rest of the ring, at
        // its start (the sender skips when the payload would wrap, or when the ring was empty; see TryWrite).
        var at = (int)(_readPos % Capacity);
        var here = _readPos + length;
        var skipped = _readPos + (Capacity - at) + length;
        var ok = (offset == at && end == here && at + length <= Capacity) || (at != 0 && offset == 0 && end == skipped && skipped - _readPos <= Capacity);
        if (!ok)
            return $"expected the payload at ring offset {at} ending at position {here} or at offset 0 ending at {skipped} (the frame after read position {_readPos}), found offset {offset} ending at {end}";
        return null;
    }

    /// <summary>Receiver: the payload of a checked frame (<see cref="Check"/>); valid until <see cref="Consumed"/>.</summary>
    public ReadOnlySpan<byte> Payload(int offset, int length) => new(_base + HeaderBytes + offset, length);

    /// <summary>Receiver: the payload up to <paramref name="end"/> was copied out; the sender may reuse its space.</summary>
    public void Consumed(long end)
    {
        _readPos = end;
        Volatile.Write(ref ReadPosition, end);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Unlink();
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose(); // the mapping goes when the last DangerousAddRef is released
        _file.Dispose();
    }
}
