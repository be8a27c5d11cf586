using MailServer.Storage;

namespace MailServer.Server.Import;

/// <summary>
/// One folder of an import source. <paramref name="Path"/> is the source's name with '/' as the hierarchy
/// separator; <paramref name="SpecialUse"/> the RFC 6154 attribute the source gave it (IMAP LIST), if any;
/// <paramref name="Handle"/> the source's own name for it (the IMAP folder's full name, a file path).
/// </summary>
public sealed record SourceFolder(string Path, SourceSpecialUse SpecialUse = SourceSpecialUse.None, string Handle = "");

/// <summary>The special-use attributes of RFC 6154 §2 an import maps or skips.</summary>
public enum SourceSpecialUse
{
    None,
    Sent,
    Drafts,
    Trash,
    Junk,
    Archive,
    /// <summary>\All: a virtual folder holding every message (Gmail's All Mail); not imported.</summary>
    All,
    /// <summary>\Flagged: a virtual folder of flagged messages (Gmail's Starred); not imported.</summary>
    Flagged,
}

/// <summary>
/// One message of a source folder. <paramref name="Cursor"/> is the source's position after this message (an IMAP
/// UID, a file name, a byte offset): the checkpoint stores it and gives it back to <see cref="IImportSource.ReadAsync"/>
/// on a resume. <paramref name="Label"/> names the message in progress and error reports. The octets are read by
/// <paramref name="Read"/>, so that an unreadable message is reported and the import goes on.
/// </summary>
public sealed record SourceMessage(
    string Cursor,
    string Label,
    Func<CancellationToken, Task<byte[]>> Read,
    DateTimeOffset? InternalDate,
    MessageFlags Flags,
    IReadOnlyList<string> Keywords);

/// <summary>A mailbox to import from: an IMAP server, a WorkMail export zip, an mbox file or a Maildir tree.</summary>
public interface IImportSource : IAsyncDisposable
{
    /// <summary>What the source is, for progress lines ("imap://user@host:993", a path).</summary>
    string Description { get; }

    /// <summary>Every folder to import, parents before children.</summary>
    /// <exception cref="ImportSourceException">The source cannot be opened or listed.</exception>
    Task<IReadOnlyList<SourceFolder>> ListFoldersAsync(CancellationToken cancellationToken);

    /// <summary>The number of messages of a folder after <paramref name="afterCursor"/>, when cheap to know (progress), else null.</summary>
    Task<int?> CountAsync(SourceFolder folder, string? afterCursor, CancellationToken cancellationToken);

    /// <summary>The messages of a folder after <paramref name="afterCursor"/> (all of them when null), in source order.</summary>
    /// <exception cref="ImportSourceException">The folder cannot be read at all.</exception>
    IAsyncEnumerable<SourceMessage> ReadAsync(SourceFolder folder, string? afterCursor, CancellationToken cancellationToken);
}

/// <summary>The source as a whole failed (cannot connect, log in, open or list); a single unreadable message is not this.</summary>
public sealed class ImportSourceException(string message, Exception? inner = null) : Exception(message, inner);
