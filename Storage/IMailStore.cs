namespace MailServer.Storage;

/// <summary>IMAP system flags (RFC 9051 §2.3.2), stored in clear.</summary>
[Flags]
public enum MessageFlags
{
    None = 0,
    Seen = 1,
    Answered = 2,
    Flagged = 4,
    Deleted = 8,
    Draft = 16,
}

/// <summary>The special-use attribute of a folder (RFC 6154).</summary>
public enum SpecialUse
{
    None = 0,
    Inbox,
    Sent,
    Drafts,
    Trash,
    Junk,
    /// <summary>\Archive (RFC 6154 §2): a folder the user made for archiving, by IMAP CREATE ... (USE (\Archive)).</summary>
    Archive,
}

/// <summary>The WorkMail folders every mailbox is created with, and their special use.</summary>
public static class WellKnownFolders
{
    public const string Inbox = "INBOX";
    public const string SentItems = "Sent Items";
    public const string Drafts = "Drafts";
    public const string DeletedItems = "Deleted Items";
    public const string JunkEmail = "Junk E-mail";

    /// <summary>The folders a new mailbox gets, with their RFC 6154 attribute.</summary>
    public static IReadOnlyList<(string Name, SpecialUse Use)> All { get; } =
    [
        (Inbox, SpecialUse.Inbox),
        (SentItems, SpecialUse.Sent),
        (Drafts, SpecialUse.Drafts),
        (DeletedItems, SpecialUse.Trash),
        (JunkEmail, SpecialUse.Junk),
    ];
}

/// <summary>A user's mailbox. <see cref="UsedBytes"/> counts the stored size of every message in it.</summary>
public sealed record MailboxInfo(string MailboxId, string OrganizationId, string Owner, long UsedBytes, long MessageCount);

/// <summary>A folder's state as IMAP reports it. <see cref="Name"/> is the decrypted name, '/' separated.</summary>
public sealed record FolderInfo(
    string FolderId,
    string MailboxId,
    string Name,
    SpecialUse SpecialUse,
    uint UidValidity,
    uint UidNext,
    ulong HighestModSeq,
    int MessageCount,
    int UnseenCount,
    bool Subscribed);

/// <summary>What is stored in clear about one message in one folder.</summary>
public sealed record MessageMeta(
    string EntryId,
    string FolderId,
    uint Uid,
    ulong ModSeq,
    MessageFlags Flags,
    IReadOnlyList<string> Keywords,
    DateTimeOffset InternalDate,
    long Size,
    DateTimeOffset LastActionAt)
{
    /// <summary>When the message was saved into this folder by delivery, APPEND, COPY or MOVE (UTC; IMAP SAVEDATE,
    /// RFC 8514). For messages stored before the server kept it: their internal date.</summary>
    public DateTimeOffset SavedAt { get; init; }

    /// <summary>A 128-bit key of the message's stored content, the same for every copy of it in one mailbox (COPY,
    /// MOVE, a delivery to several folders) and different for different messages (IMAP EMAILID, RFC 8474 §5.1).
    /// Zero when unknown.</summary>
    public UInt128 ContentKey { get; init; }
}

/// <summary>Where a delivery puts one copy: a mailbox, a folder in it, and the flags it starts with.</summary>
public sealed record DeliveryTarget(string MailboxId, string FolderName, MessageFlags Flags = MessageFlags.None);

/// <summary>One stored copy of a delivered message.</summary>
public sealed record StoredMessage(string MailboxId, string FolderId, string EntryId, uint Uid, ulong ModSeq);

/// <summary>The mailbox is over its quota; nothing was stored for it.</summary>
public sealed class QuotaExceededException(string mailboxId, long usedBytes, long quotaBytes)
    : Exception($"Mailbox {mailboxId} holds {usedBytes} bytes; its quota is {quotaBytes} bytes.")
{
    public string MailboxId { get; } = mailboxId;
}

/// <summary>
/// The whole mail store contract: every consumer's interface in one (docs/storage-contract.md). One instance owns
/// the store for the whole process; every method is safe to call from any thread, and a write is durable when its
/// task completes. Consumers that need only a part take the smaller interface (<see cref="IDeliveryStore"/>,
/// <see cref="IImapSessionStore"/>, <see cref="IQueueStore"/>, <see cref="IHeldMessageStore"/>,
/// <see cref="IRetentionOperations"/>, <see cref="IKeyAdministrationStore"/>, <see cref="IChangeFeedSource"/>).
/// </summary>
public interface IMailStore :
    IChangeFeedSource,
    IDeliveryStore,
    IMailboxImportStore,
    IQueueStore,
    IHeldMessageStore,
    IMessageFlowStore,
    IRetentionStore,
    IKeyAdministrationStore,
    IAsyncDisposable;

/// <summary>
/// What the IMAP session needs beyond <see cref="IImapSessionStore"/> for REPLACE (RFC 8508) and METADATA (RFC 5464).
/// Kept apart so that an engine can be built without it first (docs/storage-contract.md).
/// </summary>
public interface IImapExtensionStore
{
    /// <summary>
    /// Stores one message in a folder and removes the message <paramref name="replacedUid"/> of the folder
    /// <paramref name="replacedFolderId"/> in the same transaction: both or neither (IMAP REPLACE, RFC 8508 §3.3).
    /// </summary>
    /// <returns>The stored message.</returns>
    /// <exception cref="KeyNotFoundException">The folder or the message to replace no longer exists; nothing was stored.</exception>
    /// <exception cref="ArgumentException">No such mailbox or folder to store into.</exception>
    Task<StoredMessage> ReplaceAsync(string mailboxId, string folderName, AppendItem message, string replacedFolderId, uint replacedUid,
        CancellationToken cancellationToken);

    /// <summary>
    /// The annotations (IMAP METADATA, RFC 5464) of a folder, or of the mailbox as a whole (the user's server entries)
    /// when <paramref name="folderId"/> is null: entry name (lower-cased) → value. Empty for a folder that is gone.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    IReadOnlyDictionary<string, byte[]> ReadMetadata(string mailboxId, string? folderId);

    /// <summary>
    /// Sets (value) or removes (null) annotations of a folder, or of the mailbox when <paramref name="folderId"/> is
    /// null, all in one write, sealed under the mailbox key.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such mailbox or folder.</exception>
    /// <exception cref="MetadataLimitException">The scope would hold more than <paramref name="maxEntries"/>; nothing changed.</exception>
    Task SetMetadataAsync(string mailboxId, string? folderId, IReadOnlyList<KeyValuePair<string, byte[]?>> entries, int maxEntries,
        CancellationToken cancellationToken);

    /// <summary>
    /// The owner's sharing entries (IMAP SETACL, RFC 4314 §3.1) of every folder of the mailbox that has any: folder id →
    /// identifier (as given to <see cref="SetFolderAclAsync"/>) → rights letters. Folders that are gone are left out.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> ReadFolderAcl(string mailboxId);

    /// <summary>
    /// Sets (<paramref name="rights"/>) or removes (null) the sharing entry of one identifier on a folder. Entries are
    /// sealed under the mailbox key with the folder's annotations (so they follow RENAME, go with DELETE and are
    /// re-sealed by a key rotation; they never count against the annotation limit), and the change is published as a
    /// <see cref="MailboxChange.FoldersChanged"/> with mod-sequence 0 so that sessions re-check their rights.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such mailbox or folder.</exception>
    /// <exception cref="ArgumentException">An empty identifier or rights string.</exception>
    Task SetFolderAclAsync(string mailboxId, string folderId, string identifier, string? rights, CancellationToken cancellationToken);
}
