using System.Runtime.InteropServices;

namespace MailServer.Storage.Crypto;

/// <summary>fsync for files and directories. .NET has no directory fsync, so it calls libc on Unix.</summary>
internal static class Durability
{
    private const int ORdonly = 0;
    private const int ODirectory = 0x10000; // Linux O_DIRECTORY

    /// <summary>Makes a directory's entries (a rename, a create) durable. No-op on Windows.</summary>
    /// <exception cref="IOException">open(2) or fsync(2) failed.</exception>
    public static void FsyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
            return;
        var flags = OperatingSystem.IsLinux() ? ORdonly | ODirectory : ORdonly;
        var fd = Open(directory, flags);
        if (fd < 0)
            throw new IOException($"open({directory}) failed: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (Fsync(fd) != 0)
                throw new IOException($"fsync({directory}) failed: errno {Marshal.GetLastPInvokeError()}");
            Interlocked.Increment(ref s_directoryFsyncs);
        }
        finally
        {
            _ = Close(fd);
        }
    }

    /// <summary>
    /// Makes a file's data and size, or a directory's entries, durable, by path: fsync(2) on a fresh read-only
    /// descriptor flushes what any descriptor wrote. Directories are skipped on Windows (no directory fsync there).
    /// </summary>
    /// <exception cref="IOException">open(2) or fsync(2) failed.</exception>
    public static void FsyncPath(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            if (Directory.Exists(path))
                return;
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
            RandomAccess.FlushToDisk(handle);
            return;
        }
        var fd = Open(path, ORdonly);
        if (fd < 0)
            throw new IOException($"open({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            if (Fsync(fd) != 0)
                throw new IOException($"fsync({path}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        finally
        {
            _ = Close(fd);
        }
    }

    private const int Eexist = 17;

    /// <summary>
    /// Gives <paramref name="source"/> the name <paramref name="destination"/> only if that name is free, atomically
    /// (link(2) fails with EEXIST otherwise; .NET's File.Move without overwrite is not atomic). Returns false when
    /// the destination already exists. The source name stays; the caller deletes it.
    /// </summary>
    /// <exception cref="IOException">link(2) failed for another reason.</exception>
    public static bool TryLinkNoClobber(string source, string destination)
    {
        if (OperatingSystem.IsWindows())
        {
            try { File.Copy(source, destination, overwrite: false); return true; }
            catch (IOException) when (File.Exists(destination)) { return false; }
        }
        if (Link(source, destination) == 0)
            return true;
        var errno = Marshal.GetLastPInvokeError();
        return errno == Eexist ? false : throw new IOException($"link({source}, {destination}) failed: errno {errno}");
    }

    private static long s_directoryFsyncs;

    /// <summary>How many directory fsyncs succeeded in this process (tests check the discipline is followed).</summary>
    public static long DirectoryFsyncs => Interlocked.Read(ref s_directoryFsyncs);

    [DllImport("libc", EntryPoint = "open", SetLastError = true)]
    private static extern int Open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int Link([MarshalAs(UnmanagedType.LPUTF8Str)] string oldPath, [MarshalAs(UnmanagedType.LPUTF8Str)] string newPath);

    [DllImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static extern int Fsync(int fd);

    [DllImport("libc", EntryPoint = "close", SetLastError = true)]
    private static extern int Close(int fd);
}
