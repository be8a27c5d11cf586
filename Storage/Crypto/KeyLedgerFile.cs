using System.Text;

namespace MailServer.Storage.Crypto;

/// <summary>
/// A key ledger in a file beside the master keys (the LiteDB engine's: one server process). Format: a
/// <c>MSKL 2 &lt;version&gt;</c> line, the base64 header box, then one base64 line per mailbox secret. An append
/// writes its lines and fsyncs (constant cost however many mailboxes there are); a rewrite writes a temporary file,
/// fsyncs it, renames it into place and fsyncs the directory, so a removed record is in no version of the file that
/// remains. The file's own backups must be kept apart from the database's and short-lived: a backup of the ledger
/// taken before a shredding still holds that mailbox's secret.
/// </summary>
public sealed class KeyLedgerFile(string path) : IKeyLedgerStorage
{
    private const string Magic = "MSKL 2 ";

    /// <inheritdoc/>
    public string Description => path;

    /// <inheritdoc/>
    public SealedLedger? Read()
    {
        string text;
        try
        {
            text = File.ReadAllText(path, Encoding.ASCII);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
        catch (DirectoryNotFoundException)
        {
            return null;
        }
        var newline = text.IndexOf('\n', StringComparison.Ordinal);
        if (!text.StartsWith(Magic, StringComparison.Ordinal) || newline < 0
            || !int.TryParse(text.AsSpan(Magic.Length, newline - Magic.Length), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var version))
            throw new InvalidDataException($"{path} is not a key ledger.");
        var lines = text[(newline + 1)..].Split('\n');
        var last = lines.Length - 1;
        while (last > 0 && lines[last].Length == 0)
            last--;
        byte[] header;
        try
        {
            header = Convert.FromBase64String(lines[0].Trim());
        }
        catch (FormatException)
        {
            throw new InvalidDataException($"The key ledger {path} is damaged.");
        }
        var records = new List<byte[]>();
        for (var i = 1; i < lines.Length; i++)
        {
            if (lines[i].Length == 0)
                continue;
            try
            {
                records.Add(Convert.FromBase64String(lines[i]));
            }
            catch (FormatException) when (i == last)
            {
                // The last append was cut by a crash before its fsync returned: its mailbox was never committed.
            }
            catch (FormatException)
            {
                throw new InvalidDataException($"The key ledger {path} is damaged at line {i + 2}.");
            }
        }
        return new SealedLedger(version, header, records, 0, LastRecordMayBeTorn: true);
    }

    /// <inheritdoc/>
    public void CreateIfAbsent(SealedLedger ledger) => Save(ledger, linkOnly: true);

    /// <inheritdoc/>
    public bool Append(int version, IReadOnlyList<byte[]> records)
    {
        var text = new StringBuilder();
        foreach (var record in records)
            text.Append(Convert.ToBase64String(record)).Append('\n');
        using var stream = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read);
        stream.Write(Encoding.ASCII.GetBytes(text.ToString()));
        stream.Flush(flushToDisk: true);
        return true;
    }

    /// <inheritdoc/>
    /// <remarks>One process owns the file (the LiteDB engine); <see cref="KeyLedger"/>'s lock serializes its callers.</remarks>
    public void Rewrite(Func<SealedLedger?, SealedLedger?> change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (change(Read()) is { } next)
            Save(next, linkOnly: false);
    }

    /// <inheritdoc/>
    public long? Generation() => null;

    private void Save(SealedLedger ledger, bool linkOnly)
    {
        var builder = new StringBuilder();
        builder.Append(Magic).Append(ledger.Version.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('\n')
            .Append(Convert.ToBase64String(ledger.Header)).Append('\n');
        foreach (var record in ledger.Records)
            builder.Append(Convert.ToBase64String(record)).Append('\n');
        var text = Encoding.ASCII.GetBytes(builder.ToString());
        var directory = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory);
        var temp = Path.Combine(directory, "." + Path.GetFileName(path) + "." + Guid.NewGuid().ToString("N") + ".tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            using (var stream = new FileStream(temp, options))
            {
                stream.Write(text);
                stream.Flush(flushToDisk: true);
            }
            // Two processes creating at once: the first one linked wins, everybody reads that one.
            if (linkOnly)
                Durability.TryLinkNoClobber(temp, path);
            else
                File.Move(temp, path, overwrite: true);
            Durability.FsyncDirectory(directory);
        }
        finally
        {
            File.Delete(temp);
        }
    }
}
