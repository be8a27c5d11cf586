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
/// The mail store: mailboxes, folders and encrypted messages. One instance owns the database and
/// the blob folder for the whole process. Every method is safe to call from any thread; writes are
/// serialised through a single writer and are durable (fsync'd) when the returned task completes.
/// </summary>
public interface IMailStore : IAsyncDisposable
{
    /// <summary>Changes committed to the store, in commit order.</summary>
    IChangeFeed Changes { get; }

    /// <summary>
    /// Returns the mailbox of <paramref name="owner"/>, creating it (with a fresh mailbox key and the
    /// <see cref="WellKnownFolders"/>) when it does not exist. Idempotent.
    /// </summary>
    Task<MailboxInfo> EnsureMailboxAsync(string organizationId, string owner, CancellationToken cancellationToken);

    /// <summary>The mailbox of <paramref name="owner"/>, or null.</summary>
    MailboxInfo? FindMailbox(string organizationId, string owner);

    /// <summary>
    /// Stores <paramref name="message"/> once, encrypted, and links it into every target folder.
    /// Returns when every copy is durable. All-or-nothing: on an exception no target holds it.
    /// </summary>
    /// <exception cref="ArgumentException">A target names a mailbox or folder that does not exist.</exception>
    Task<IReadOnlyList<StoredMessage>> DeliverAsync(
        ReadOnlyMemory<byte> message,
        DateTimeOffset internalDate,
        IReadOnlyList<DeliveryTarget> targets,
        CancellationToken cancellationToken);

    /// <summary>Every folder of a mailbox, with counts.</summary>
    IReadOnlyList<FolderInfo> ListFolders(string mailboxId);

    /// <summary>The folder named <paramref name="name"/> ("INBOX" case-insensitively), or null.</summary>
    FolderInfo? FindFolder(string mailboxId, string name);

    /// <summary>The messages of a folder, in UID order.</summary>
    IReadOnlyList<MessageMeta> ListMessages(string folderId);

    /// <summary>The decrypted bytes of one stored message.</summary>
    /// <exception cref="KeyNotFoundException">No such entry.</exception>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The ciphertext or a key was tampered with.</exception>
    Task<byte[]> ReadMessageAsync(string mailboxId, string entryId, CancellationToken cancellationToken);

    /// <summary>
    /// One stored message as a read-only, seekable stream of its plaintext (<see cref="Stream.Length"/> is its size):
    /// a read decrypts only the 64 KiB segments it covers, so a whole-message FETCH streams and a partial one reads
    /// only its range. Dispose it (it holds the file and a copy of the message key).
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such entry.</exception>
    /// <exception cref="FileNotFoundException">The entry's body file is gone (reindex removes such entries).</exception>
    /// <exception cref="System.Security.Cryptography.CryptographicException">A key was tampered with, or (on open or
    /// on a read) a segment of the body was altered, moved, dropped or cut off.</exception>
    Stream OpenMessage(string mailboxId, string entryId);

    /// <summary>A folder by id, or null.</summary>
    FolderInfo? GetFolder(string folderId);

    /// <summary>Whether the folder exists; unlike <see cref="GetFolder"/> it unwraps no key and decrypts no name
    /// (IMAP asks before every command on a selected folder).</summary>
    bool FolderExists(string folderId);

    /// <summary>The messages of a folder whose UID is at least <paramref name="firstUid"/>, in UID order
    /// (IMAP learns of new messages this way without listing the whole folder).</summary>
    IReadOnlyList<MessageMeta> ListMessages(string folderId, uint firstUid);

    /// <summary>
    /// The header section of a stored message (up to and including the blank line, cut at 256 KiB), from the
    /// encrypted summary: header FETCH and header SEARCH without reading the body.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such entry in this mailbox.</exception>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The summary or a key was tampered with.</exception>
    byte[] ReadHeaderSection(string mailboxId, string entryId);

    /// <summary>
    /// Changes the flags and keywords of messages of a folder; each message whose flags change gets a new MODSEQ
    /// and a <see cref="MailboxChange.FlagsChanged"/>. UIDs that do not exist are ignored.
    /// </summary>
    /// <returns>The messages as they are after the change, changed or not.</returns>
    /// <exception cref="KeyNotFoundException">No such folder.</exception>
    Task<IReadOnlyList<MessageMeta>> SetFlagsAsync(string folderId, IReadOnlyCollection<uint> uids, FlagOperation operation,
        MessageFlags flags, IReadOnlyList<string> keywords, CancellationToken cancellationToken);

    /// <summary>Removes the messages flagged \Deleted (all, or only those among <paramref name="uids"/>).</summary>
    /// <returns>The expunged UIDs, ascending.</returns>
    /// <exception cref="KeyNotFoundException">No such folder.</exception>
    Task<IReadOnlyList<uint>> ExpungeAsync(string folderId, IReadOnlyCollection<uint>? uids, CancellationToken cancellationToken);

    /// <summary>Copies messages to another folder of the same mailbox (RFC 4315 COPYUID data in the result).</summary>
    /// <exception cref="KeyNotFoundException">A folder does not exist.</exception>
    /// <exception cref="ArgumentException">The folders belong to different mailboxes.</exception>
    Task<IReadOnlyList<CopiedMessage>> CopyAsync(string sourceFolderId, IReadOnlyCollection<uint> uids, string destinationFolderId, CancellationToken cancellationToken);

    /// <summary>Moves messages atomically (RFC 6851).</summary>
    /// <exception cref="KeyNotFoundException">A folder does not exist.</exception>
    /// <exception cref="ArgumentException">The folders belong to different mailboxes, or are the same folder.</exception>
    Task<IReadOnlyList<CopiedMessage>> MoveAsync(string sourceFolderId, IReadOnlyCollection<uint> uids, string destinationFolderId, CancellationToken cancellationToken);

    /// <summary>Creates a folder.</summary>
    /// <exception cref="FolderOperationException">The name exists already.</exception>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    Task<FolderInfo> CreateFolderAsync(string mailboxId, string name, CancellationToken cancellationToken) =>
        CreateFolderAsync(mailboxId, name, SpecialUse.None, cancellationToken);

    /// <summary>Creates a folder with a special use (IMAP CREATE-SPECIAL-USE, RFC 6154 §3); whether the use is
    /// allowed is the caller's decision.</summary>
    /// <exception cref="FolderOperationException">The name exists already.</exception>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    /// <exception cref="ArgumentException"><paramref name="specialUse"/> is <see cref="SpecialUse.Inbox"/>.</exception>
    Task<FolderInfo> CreateFolderAsync(string mailboxId, string name, SpecialUse specialUse, CancellationToken cancellationToken);

    /// <summary>The highest UID of the folder an IMAP session took as \Recent (RFC 3501 §2.3.2), or null when the
    /// folder predates the mark (or does not exist).</summary>
    uint? ReadRecentMark(string folderId) => null;

    /// <summary>Raises the folder's \Recent mark to <paramref name="uid"/> (never lowers it), durably. A folder that no
    /// longer exists is ignored.</summary>
    Task RaiseRecentMarkAsync(string folderId, uint uid, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Renames a folder and its children, keeping UIDVALIDITY and messages.</summary>
    /// <exception cref="FolderOperationException">No such folder, the new name exists, or the folder is INBOX.</exception>
    Task RenameFolderAsync(string mailboxId, string oldName, string newName, CancellationToken cancellationToken);

    /// <summary>Deletes a folder and its messages.</summary>
    /// <exception cref="FolderOperationException">No such folder, a special folder, or a folder with children.</exception>
    Task DeleteFolderAsync(string mailboxId, string name, CancellationToken cancellationToken);

    /// <summary>
    /// Subscribes or unsubscribes a name (RFC 9051 §6.3.7–6.3.8), durably. The name need not be a folder; an existing
    /// folder keeps its subscription across RENAME. New folders start subscribed. Idempotent.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    Task SetSubscribedAsync(string mailboxId, string name, bool subscribed, CancellationToken cancellationToken);

    /// <summary>Every subscribed name of a mailbox, folders or not, in ordinal order.</summary>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    IReadOnlyList<string> ListSubscriptions(string mailboxId);

    /// <summary>
    /// Puts a message in the outbound queue: the body once, encrypted under the organization's key hierarchy,
    /// the envelope sealed. When <paramref name="countAgainstUser"/> is set, the recipients are added to that
    /// user's external-recipient count for the day of <see cref="OutboundEnvelope.ReceivedAt"/> (UTC) in the same
    /// transaction. Returns when the message is durable.
    /// </summary>
    /// <exception cref="ArgumentException">The envelope has no recipient.</exception>
    Task<QueuedMessage> EnqueueAsync(OutboundEnvelope envelope, ReadOnlyMemory<byte> message, string? countAgainstUser, CancellationToken cancellationToken);

    /// <summary>Every queued message, oldest first.</summary>
    IReadOnlyList<QueuedMessage> ListQueue();

    /// <summary>Queued messages with a pending recipient due at or before <paramref name="now"/>, at most <paramref name="max"/>.</summary>
    IReadOnlyList<QueuedMessage> DueQueueEntries(DateTimeOffset now, int max);

    /// <summary>
    /// The ids of queued messages with a pending recipient due at or before <paramref name="now"/>, at most
    /// <paramref name="max"/>, earliest due first, without opening their envelopes (the queue worker polls this).
    /// </summary>
    IReadOnlyList<string> DueQueueIds(DateTimeOffset now, int max) => DueQueueEntries(now, max).Select(m => m.QueueId).ToList();

    /// <summary>One queued message, or null.</summary>
    QueuedMessage? FindQueued(string queueId);

    /// <summary>The decrypted bytes of a queued message.</summary>
    /// <exception cref="KeyNotFoundException">No such queued message.</exception>
    Task<byte[]> ReadQueuedMessageAsync(string queueId, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces the recipients' states of a queued message, durably. When none is pending any more the message
    /// leaves the queue (its blob is deleted after the commit).
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such queued message.</exception>
    Task UpdateQueuedAsync(string queueId, IReadOnlyList<QueuedRecipient> recipients, CancellationToken cancellationToken);

    /// <summary>Removes a message from the queue without delivering it. False when there was no such message.</summary>
    Task<bool> DeleteQueuedAsync(string queueId, CancellationToken cancellationToken);

    /// <summary>External recipients counted against <paramref name="user"/> on <paramref name="day"/> (UTC).</summary>
    long ExternalRecipientsOn(string organizationId, string user, DateOnly day);

    /// <summary>
    /// The UIDs expunged from a folder by changes with a MODSEQ above <paramref name="modSeq"/>, ascending
    /// (RFC 7162 §3.2.5 VANISHED (EARLIER)). Empty for a folder that no longer exists.
    /// </summary>
    IReadOnlyList<uint> ListExpungedSince(string folderId, ulong modSeq);

    /// <summary>
    /// Stores several messages in one folder, all or none (IMAP APPEND and MULTIAPPEND, RFC 3502), with their flags
    /// and keywords, UIDs ascending in the given order. Returns when every copy is durable.
    /// </summary>
    /// <exception cref="ArgumentException">No messages, or no such mailbox or folder.</exception>
    Task<IReadOnlyList<StoredMessage>> AppendAsync(string mailboxId, string folderName, IReadOnlyList<AppendItem> messages, CancellationToken cancellationToken);

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
}
