using System.Text.Json;

namespace MailServer.Server.Reports;

/// <summary>The report ledgers' file discipline: the whole snapshot as JSON, written beside and renamed over the old one.</summary>
internal static class LedgerFile
{
    /// <summary>Replaces <paramref name="path"/> with <paramref name="snapshot"/> as JSON (a reader sees the old file or the new one).</summary>
    /// <exception cref="IOException">The folder or file could not be written.</exception>
    /// <exception cref="UnauthorizedAccessException">No permission to write there.</exception>
    public static void Replace<T>(string path, T snapshot)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        File.WriteAllBytes(temporary, JsonSerializer.SerializeToUtf8Bytes(snapshot));
        File.Move(temporary, path, overwrite: true);
    }
}
