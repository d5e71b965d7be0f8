namespace DistTrain.Cli.Output;

/// <summary>
/// Whole-file writes that are never seen half done: the bytes go to a hidden temporary file in the
/// target's folder, are flushed, and the temporary file is renamed over the target (rename within one
/// folder is atomic on POSIX and NTFS). A crash leaves either the old file or the new one, plus at worst
/// a stray <c>.name.*.tmp</c> file, never a truncated target.
/// </summary>
public static class AtomicFile
{
    /// <summary>Prefix and suffix of the temporary files, so callers (and tests) can recognise strays.</summary>
    public const string TempSuffix = ".tmp";

    /// <param name="durable">
    /// Also fsync before the rename, so the new contents survive a power loss, not just a killed process.
    /// </param>
    public static void Write(string path, ReadOnlySpan<byte> bytes, bool durable = true)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? throw new ArgumentException($"'{path}' has no parent folder to write into.", nameof(path));
        var tmp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}{TempSuffix}");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                fs.Write(bytes);
                fs.Flush(flushToDisk: durable);
            }
            File.Move(tmp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
