namespace MailServer.Storage;

// The store contract, split by consumer (docs/storage-contract.md). IMailStore inherits every interface here, so a
// caller that takes IMailStore keeps working; new code takes the smallest interface it needs, which is also what a
// second engine (Storage/PostgreSql) implements first.

/// <summary>
/// The change feed (IMAP IDLE, NOTIFY, a selected folder's updates): every committed change of a mailbox, in commit
/// order, to subscribers in this process; with a shared engine, also the changes other processes committed.
/// </summary>
public interface IChangeFeedSource
{
    /// <summary>Changes committed to the store, in commit order.</summary>
    IChangeFeed Changes { get; }
}

/// <summary>Mailboxes by owner: delivery, IMAP login and the admin tools find (or create) a user's mailbox this way.</summary>
public interface IMailboxLookup
{
    /// <summary>
    /// Returns the mailbox of <paramref name="owner"/>, creating it (with a fresh mailbox key and the
    /// <see cref="WellKnownFolders"/>) when it does not exist. Idempotent.
    /// </summary>
    Task<MailboxInfo> EnsureMailboxAsync(string organizationId, string owner, CancellationToken cancellationToken);

    /// <summary>The mailbox of <paramref name="owner"/>, or null.</summary>
    MailboxInfo? FindMailbox(string organizationId, string owner);
}

/// <summary>
/// What the mail flow needs to deliver: mailboxes found or created by owner, and one message stored in several
/// folders at once. A delivery's task completes only when every copy is durable (SMTP answers 250 after it).
/// </summary>
public interface IDeliveryStore : IMailboxLookup
{
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
}

/// <summary>
/// What an IMAP session reads: folders, message metadata, bodies and header sections, subscriptions, expunge
/// tombstones and the \Recent mark. Reads see committed state only.
/// </summary>
public interface IImapSessionReads : IMailboxLookup
{
    /// <summary>Every folder of a mailbox, with counts.</summary>
    IReadOnlyList<FolderInfo> ListFolders(string mailboxId);

    /// <summary>The folder named <paramref name="name"/> ("INBOX" case-insensitively), or null.</summary>
    FolderInfo? FindFolder(string mailboxId, string name);

    /// <summary>A folder by id, or null.</summary>
    FolderInfo? GetFolder(string folderId);

    /// <summary>Whether the folder exists; unlike <see cref="GetFolder"/> it unwraps no key and decrypts no name
    /// (IMAP asks before every command on a selected folder).</summary>
    bool FolderExists(string folderId);

    /// <summary>The messages of a folder, in UID order.</summary>
    IReadOnlyList<MessageMeta> ListMessages(string folderId);

    /// <summary>The messages of a folder whose UID is at least <paramref name="firstUid"/>, in UID order
    /// (IMAP learns of new messages this way without listing the whole folder).</summary>
    IReadOnlyList<MessageMeta> ListMessages(string folderId, uint firstUid);

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

    /// <summary>
    /// The header section of a stored message (up to and including the blank line, cut at 256 KiB), from the
    /// encrypted summary: header FETCH and header SEARCH without reading the body.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such entry in this mailbox.</exception>
    /// <exception cref="System.Security.Cryptography.CryptographicException">The summary or a key was tampered with.</exception>
    byte[] ReadHeaderSection(string mailboxId, string entryId);

    /// <summary>Every subscribed name of a mailbox, folders or not, in ordinal order.</summary>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    IReadOnlyList<string> ListSubscriptions(string mailboxId);

    /// <summary>
    /// The UIDs expunged from a folder by changes with a MODSEQ above <paramref name="modSeq"/>, ascending
    /// (RFC 7162 §3.2.5 VANISHED (EARLIER)). Empty for a folder that no longer exists.
    /// </summary>
    IReadOnlyList<uint> ListExpungedSince(string folderId, ulong modSeq);

    /// <summary>The highest UID of the folder an IMAP session took as \Recent (RFC 3501 §2.3.2), or null when the
    /// folder predates the mark (or does not exist).</summary>
    uint? ReadRecentMark(string folderId) => null;
}

/// <summary>
/// What an IMAP session writes: APPEND, flags, EXPUNGE, COPY, MOVE, folder management, subscriptions and the \Recent
/// mark. Each write is durable when its task completes and is published on the change feed after its commit.
/// </summary>
public interface IImapSessionWrites
{
    /// <summary>
    /// Stores several messages in one folder, all or none (IMAP APPEND and MULTIAPPEND, RFC 3502), with their flags
    /// and keywords, UIDs ascending in the given order. Returns when every copy is durable.
    /// </summary>
    /// <exception cref="ArgumentException">No messages, or no such mailbox or folder.</exception>
    Task<IReadOnlyList<StoredMessage>> AppendAsync(string mailboxId, string folderName, IReadOnlyList<AppendItem> messages, CancellationToken cancellationToken);

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

    /// <summary>Raises the folder's \Recent mark to <paramref name="uid"/> (never lowers it), durably. A folder that no
    /// longer exists is ignored.</summary>
    Task RaiseRecentMarkAsync(string folderId, uint uid, CancellationToken cancellationToken) => Task.CompletedTask;
}

/// <summary>
/// The outbound queue and the per-user daily counters of external recipients. Queue writes are durable when their
/// task completes.
/// </summary>
public interface IQueueStore
{
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
    /// Claims due queued messages for this store instance (one server process, one node) until <paramref name="now"/> +
    /// <paramref name="lease"/>: at most <paramref name="max"/> ids of messages with a pending recipient due at or before
    /// <paramref name="now"/> that no claimer holds, earliest due first. A lease that ran out (its node died or stalled)
    /// is taken over. Two claimers, in one process or on two nodes sharing the store, never hold one message at once,
    /// so no recipient is delivered twice while its lease lives; the holder renews the lease
    /// (<see cref="RenewQueueLeaseAsync"/>) for runs that may outlast it. <see cref="UpdateQueuedAsync(string, IReadOnlyList{QueuedRecipient}, long?, CancellationToken)"/> and
    /// <see cref="DeleteQueuedAsync"/> end the lease.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="max"/> or <paramref name="lease"/> is not positive.</exception>
    Task<IReadOnlyList<string>> ClaimDueQueueAsync(DateTimeOffset now, int max, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>
    /// Extends this instance's lease on a queued message to <paramref name="now"/> + <paramref name="lease"/>. False when
    /// it holds none any more: the message is gone, or its lease ran out and another claimer took it over (the caller
    /// then stops and writes nothing back).
    /// </summary>
    Task<bool> RenewQueueLeaseAsync(string queueId, DateTimeOffset now, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>
    /// Replaces the recipients' states of a queued message, durably, and ends this instance's lease on it. When none is
    /// pending any more the message leaves the queue (its blob is deleted after the commit).
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such queued message.</exception>
    /// <exception cref="LeaseHeldElsewhereException">Another claimer holds a live lease on the message (it took over
    /// after this instance's lease ran out, or it is delivering while an administrator retries): nothing was written.</exception>
    Task UpdateQueuedAsync(string queueId, IReadOnlyList<QueuedRecipient> recipients, CancellationToken cancellationToken) =>
        UpdateQueuedAsync(queueId, recipients, null, cancellationToken);

    /// <summary>
    /// As <see cref="UpdateQueuedAsync(string, IReadOnlyList{QueuedRecipient}, CancellationToken)"/>, and only if the message
    /// is still at <paramref name="expectedVersion"/> (its <see cref="QueuedMessage.Version"/> when the caller read it):
    /// a caller that read, decided and writes back (an administrator's retry) never writes over a state another
    /// claimer recorded meanwhile.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No such queued message.</exception>
    /// <exception cref="LeaseHeldElsewhereException">Another claimer holds a live lease on the message: nothing was written.</exception>
    /// <exception cref="QueuedMessageChangedException">The message changed since the caller read it: nothing was written.</exception>
    Task UpdateQueuedAsync(string queueId, IReadOnlyList<QueuedRecipient> recipients, long? expectedVersion, CancellationToken cancellationToken);

    /// <summary>Removes a message from the queue without delivering it, whoever holds its lease (an administrator's
    /// decision). False when there was no such message.</summary>
    Task<bool> DeleteQueuedAsync(string queueId, CancellationToken cancellationToken);

    /// <summary>External recipients counted against <paramref name="user"/> on <paramref name="day"/> (UTC).</summary>
    long ExternalRecipientsOn(string organizationId, string user, DateOnly day);
}

/// <summary>Everything one IMAP session uses: its mailbox, reads, writes and the change feed.</summary>
public interface IImapSessionStore : IImapSessionReads, IImapSessionWrites, IChangeFeedSource;

/// <summary>
/// What retention policies (WorkMail §16) need beyond the IMAP operations: removing messages whatever their flags.
/// </summary>
public interface IRetentionOperations
{
    /// <summary>
    /// Removes the messages <paramref name="uids"/> of a folder at once, \Deleted or not, in one commit: their
    /// entries and wrapped keys go (crypto-erase), a body goes with its last entry, and IMAP sessions see a
    /// <see cref="MailboxChange.MessagesExpunged"/>. UIDs that do not exist are ignored.
    /// </summary>
    /// <returns>The removed UIDs, ascending.</returns>
    /// <exception cref="KeyNotFoundException">No such folder.</exception>
    Task<IReadOnlyList<uint>> PermanentlyDeleteAsync(string folderId, IReadOnlyCollection<uint> uids, CancellationToken cancellationToken);
}

/// <summary>
/// The key administration of <c>mailserver keys</c> and <c>mailserver mailbox delete</c>: master key rotation by
/// re-wrap, mailbox key rotation, crypto-shredding, and the listings they print.
/// </summary>
public interface IKeyAdministrationStore : IMailboxLookup
{
    /// <summary>A mailbox by id, or null.</summary>
    MailboxInfo? GetMailbox(string mailboxId);

    /// <summary>The mailboxes of an organization, owners decrypted.</summary>
    IReadOnlyList<MailboxInfo> ListMailboxes(string organizationId);

    /// <summary>What refers to which master key version in an organization.</summary>
    KeyStatus KeyStatusOf(string organizationId);

    /// <summary>
    /// Begins the rotation of an organization's master key without waiting for it: the next version is current for
    /// every new wrap at once, the old one retiring until <see cref="RotateAsync"/> has re-wrapped everything. When a
    /// rotation is running already (begun here or on another node), returns its version.
    /// </summary>
    /// <returns>The version being rotated to.</returns>
    /// <exception cref="NotSupportedException">The provider cannot create the next version and it was not provisioned.</exception>
    /// <exception cref="IOException">The key ledger could not be written.</exception>
    int BeginRotation(string organizationId);

    /// <summary>Starts (<paramref name="start"/>) or resumes the rotation of an organization's master key: every wrap
    /// under an older version is re-wrapped under the new one while mail flows; then the old versions are destroyed.</summary>
    /// <exception cref="NotSupportedException">The provider cannot create the next version and it was not provisioned.</exception>
    Task<RotationResult> RotateAsync(string organizationId, bool start, IProgress<RotationProgress>? progress, CancellationToken cancellationToken);

    /// <summary>Gives a mailbox a new key (or resumes an interrupted rotation): message keys re-wrapped, names re-sealed,
    /// the old key's secret destroyed.</summary>
    /// <exception cref="KeyNotFoundException">No such mailbox.</exception>
    /// <exception cref="IOException">The key ledger could not be written.</exception>
    Task<MailboxKeyRotationResult> RotateMailboxKeyAsync(string mailboxId, IProgress<MailboxKeyRotationProgress>? progress, CancellationToken cancellationToken);

    /// <summary>Finishes every interrupted mailbox key rotation of an organization.</summary>
    /// <exception cref="IOException">The key ledger could not be written.</exception>
    Task<IReadOnlyList<MailboxKeyRotationResult>> ResumeMailboxKeyRotationsAsync(string organizationId, IProgress<MailboxKeyRotationProgress>? progress,
        CancellationToken cancellationToken);

    /// <summary>The mailboxes of an organization whose key rotation has not finished.</summary>
    IReadOnlyList<string> MailboxKeyRotationsPending(string organizationId);

    /// <summary>Deletes a mailbox for good (crypto-shredding first, then its data). Null when the owner has none.</summary>
    Task<DeleteMailboxResult?> DeleteMailboxAsync(string organizationId, string owner, CancellationToken cancellationToken);
}
