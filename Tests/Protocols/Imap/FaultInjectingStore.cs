using MailServer.Storage;

namespace MailServer.Tests.Protocols.Imap;

/// <summary>A store decorator that throws <see cref="Fault"/> from the named method, once, to drive the error boundary.</summary>
internal sealed class FaultInjectingStore(IMailStore inner) : IMailStore
{
    public (string Method, Exception Exception)? Fault { get; set; }

    private void Check(string method)
    {
        if (Fault is { } fault && fault.Method == method)
        {
            Fault = null;
            throw fault.Exception;
        }
    }

    public IChangeFeed Changes => inner.Changes;
    public Task<MailboxInfo> EnsureMailboxAsync(string organizationId, string owner, CancellationToken ct) { Check(nameof(EnsureMailboxAsync)); return inner.EnsureMailboxAsync(organizationId, owner, ct); }
    public MailboxInfo? FindMailbox(string organizationId, string owner) { Check(nameof(FindMailbox)); return inner.FindMailbox(organizationId, owner); }
    public Task<IReadOnlyList<StoredMessage>> DeliverAsync(ReadOnlyMemory<byte> message, DateTimeOffset internalDate, IReadOnlyList<DeliveryTarget> targets, CancellationToken ct) { Check(nameof(DeliverAsync)); return inner.DeliverAsync(message, internalDate, targets, ct); }
    public IReadOnlyList<FolderInfo> ListFolders(string mailboxId) { Check(nameof(ListFolders)); return inner.ListFolders(mailboxId); }
    public FolderInfo? FindFolder(string mailboxId, string name) { Check(nameof(FindFolder)); return inner.FindFolder(mailboxId, name); }
    public IReadOnlyList<MessageMeta> ListMessages(string folderId) { Check(nameof(ListMessages)); return inner.ListMessages(folderId); }
    public Task<byte[]> ReadMessageAsync(string mailboxId, string entryId, CancellationToken ct) { Check(nameof(ReadMessageAsync)); return inner.ReadMessageAsync(mailboxId, entryId, ct); }
    public Stream OpenMessage(string mailboxId, string entryId) { Check(nameof(OpenMessage)); return inner.OpenMessage(mailboxId, entryId); }
    public FolderInfo? GetFolder(string folderId) { Check(nameof(GetFolder)); return inner.GetFolder(folderId); }
    public bool FolderExists(string folderId) { Check(nameof(FolderExists)); return inner.FolderExists(folderId); }
    public IReadOnlyList<MessageMeta> ListMessages(string folderId, uint firstUid)
    {
        Check(nameof(ListMessages));
        var listed = inner.ListMessages(folderId, firstUid);
        return LaggingListings && listed.Count > 0 ? listed.Take(listed.Count - 1).ToList() : listed;
    }

    /// <summary>Partial listings miss their newest message, as one taken from the metadata cache just before it
    /// learns of a commit.</summary>
    public bool LaggingListings { get; set; }
    public byte[] ReadHeaderSection(string mailboxId, string entryId) { Check(nameof(ReadHeaderSection)); return inner.ReadHeaderSection(mailboxId, entryId); }
    public Task<IReadOnlyList<MessageMeta>> SetFlagsAsync(string folderId, IReadOnlyCollection<uint> uids, FlagOperation operation, MessageFlags flags, IReadOnlyList<string> keywords, CancellationToken ct) { Check(nameof(SetFlagsAsync)); return inner.SetFlagsAsync(folderId, uids, operation, flags, keywords, ct); }
    public Task<IReadOnlyList<uint>> ExpungeAsync(string folderId, IReadOnlyCollection<uint>? uids, CancellationToken ct) { Check(nameof(ExpungeAsync)); return inner.ExpungeAsync(folderId, uids, ct); }
    public Task<IReadOnlyList<CopiedMessage>> CopyAsync(string sourceFolderId, IReadOnlyCollection<uint> uids, string destinationFolderId, CancellationToken ct) { Check(nameof(CopyAsync)); return inner.CopyAsync(sourceFolderId, uids, destinationFolderId, ct); }
    public Task<IReadOnlyList<CopiedMessage>> MoveAsync(string sourceFolderId, IReadOnlyCollection<uint> uids, string destinationFolderId, CancellationToken ct) { Check(nameof(MoveAsync)); return inner.MoveAsync(sourceFolderId, uids, destinationFolderId, ct); }
    public Task<FolderInfo> CreateFolderAsync(string mailboxId, string name, CancellationToken ct) { Check(nameof(CreateFolderAsync)); return inner.CreateFolderAsync(mailboxId, name, ct); }
    public Task<FolderInfo> CreateFolderAsync(string mailboxId, string name, SpecialUse specialUse, CancellationToken ct) { Check(nameof(CreateFolderAsync)); return inner.CreateFolderAsync(mailboxId, name, specialUse, ct); }
    public Task RenameFolderAsync(string mailboxId, string oldName, string newName, CancellationToken ct) { Check(nameof(RenameFolderAsync)); return inner.RenameFolderAsync(mailboxId, oldName, newName, ct); }
    public Task DeleteFolderAsync(string mailboxId, string name, CancellationToken ct) { Check(nameof(DeleteFolderAsync)); return inner.DeleteFolderAsync(mailboxId, name, ct); }
    public Task SetSubscribedAsync(string mailboxId, string name, bool subscribed, CancellationToken ct) { Check(nameof(SetSubscribedAsync)); return inner.SetSubscribedAsync(mailboxId, name, subscribed, ct); }
    public IReadOnlyList<string> ListSubscriptions(string mailboxId) { Check(nameof(ListSubscriptions)); return inner.ListSubscriptions(mailboxId); }
    public Task<QueuedMessage> EnqueueAsync(OutboundEnvelope envelope, ReadOnlyMemory<byte> message, string? countAgainstUser, CancellationToken ct) => inner.EnqueueAsync(envelope, message, countAgainstUser, ct);
    public IReadOnlyList<QueuedMessage> ListQueue() => inner.ListQueue();
    public IReadOnlyList<QueuedMessage> DueQueueEntries(DateTimeOffset now, int max) => inner.DueQueueEntries(now, max);
    public QueuedMessage? FindQueued(string queueId) => inner.FindQueued(queueId);
    public Task<byte[]> ReadQueuedMessageAsync(string queueId, CancellationToken ct) => inner.ReadQueuedMessageAsync(queueId, ct);
    public Task UpdateQueuedAsync(string queueId, IReadOnlyList<QueuedRecipient> recipients, CancellationToken ct) => inner.UpdateQueuedAsync(queueId, recipients, ct);
    public Task UpdateQueuedAsync(string queueId, IReadOnlyList<QueuedRecipient> recipients, long? expectedVersion, CancellationToken ct) => inner.UpdateQueuedAsync(queueId, recipients, expectedVersion, ct);
    public Task<bool> DeleteQueuedAsync(string queueId, CancellationToken ct) => inner.DeleteQueuedAsync(queueId, ct);
    public Task<IReadOnlyList<string>> ClaimDueQueueAsync(DateTimeOffset now, int max, TimeSpan lease, CancellationToken ct) => inner.ClaimDueQueueAsync(now, max, lease, ct);
    public Task<bool> RenewQueueLeaseAsync(string queueId, DateTimeOffset now, TimeSpan lease, CancellationToken ct) => inner.RenewQueueLeaseAsync(queueId, now, lease, ct);
    public long ExternalRecipientsOn(string organizationId, string user, DateOnly day) => inner.ExternalRecipientsOn(organizationId, user, day);
    public IReadOnlyList<uint> ListExpungedSince(string folderId, ulong modSeq) { Check(nameof(ListExpungedSince)); return inner.ListExpungedSince(folderId, modSeq); }
    public Task<IReadOnlyList<StoredMessage>> AppendAsync(string mailboxId, string folderName, IReadOnlyList<AppendItem> messages, CancellationToken ct) { Check(nameof(AppendAsync)); return inner.AppendAsync(mailboxId, folderName, messages, ct); }
    public Task<IReadOnlyList<ImportOutcome>> ImportAsync(string mailboxId, string folderName, IReadOnlyList<AppendItem> messages, CancellationToken ct) { Check(nameof(ImportAsync)); return inner.ImportAsync(mailboxId, folderName, messages, ct); }
    // Held hooks, in-transit copies, retention and key administration: passed through (no faults injected there).
    public Task HoldAsync(HeldMessage held, ReadOnlyMemory<byte> message, CancellationToken ct) => inner.HoldAsync(held, message, ct);
    public IReadOnlyList<HeldMessage> ListHeld() => inner.ListHeld();
    public IReadOnlyList<HeldMessage> DueHeld(DateTimeOffset now, int max) => inner.DueHeld(now, max);
    public Task<IReadOnlyList<HeldMessage>> ClaimDueHeldAsync(DateTimeOffset now, int max, TimeSpan lease, CancellationToken ct) => inner.ClaimDueHeldAsync(now, max, lease, ct);
    public Task<byte[]> ReadHeldMessageAsync(string heldId, CancellationToken ct) => inner.ReadHeldMessageAsync(heldId, ct);
    public Task RecordHeldAttemptAsync(string heldId, int attempts, DateTimeOffset nextAttemptAt, string lastError, CancellationToken ct) => inner.RecordHeldAttemptAsync(heldId, attempts, nextAttemptAt, lastError, ct);
    public Task<bool> ReleaseHeldAsync(string heldId, CancellationToken ct) => inner.ReleaseHeldAsync(heldId, ct);
    public Task<Guid> StoreInTransitAsync(string organizationId, MessageFlowContext context, ReadOnlyMemory<byte> message, bool updatable, CancellationToken ct) => inner.StoreInTransitAsync(organizationId, context, message, updatable, ct);
    public InTransitMessage? FindInTransit(Guid messageId) => inner.FindInTransit(messageId);
    public Task<byte[]?> ReadInTransitAsync(Guid messageId, CancellationToken ct) => inner.ReadInTransitAsync(messageId, ct);
    public Task<bool> ReplaceInTransitAsync(Guid messageId, ReadOnlyMemory<byte> message, CancellationToken ct) => inner.ReplaceInTransitAsync(messageId, message, ct);
    public Task<bool> SealInTransitAsync(Guid messageId, CancellationToken ct) => inner.SealInTransitAsync(messageId, ct);
    public Task<int> PurgeInTransitAsync(CancellationToken ct) => inner.PurgeInTransitAsync(ct);
    public Task<IReadOnlyList<uint>> PermanentlyDeleteAsync(string folderId, IReadOnlyCollection<uint> uids, CancellationToken ct) => inner.PermanentlyDeleteAsync(folderId, uids, ct);
    public MailboxInfo? GetMailbox(string mailboxId) => inner.GetMailbox(mailboxId);
    public IReadOnlyList<MailboxInfo> ListMailboxes(string organizationId) => inner.ListMailboxes(organizationId);
    public KeyStatus KeyStatusOf(string organizationId) => inner.KeyStatusOf(organizationId);
    public int BeginRotation(string organizationId) => inner.BeginRotation(organizationId);
    public Task<RotationResult> RotateAsync(string organizationId, bool start, IProgress<RotationProgress>? progress, CancellationToken ct) => inner.RotateAsync(organizationId, start, progress, ct);
    public Task<MailboxKeyRotationResult> RotateMailboxKeyAsync(string mailboxId, IProgress<MailboxKeyRotationProgress>? progress, CancellationToken ct) => inner.RotateMailboxKeyAsync(mailboxId, progress, ct);
    public Task<IReadOnlyList<MailboxKeyRotationResult>> ResumeMailboxKeyRotationsAsync(string organizationId, IProgress<MailboxKeyRotationProgress>? progress, CancellationToken ct) => inner.ResumeMailboxKeyRotationsAsync(organizationId, progress, ct);
    public IReadOnlyList<string> MailboxKeyRotationsPending(string organizationId) => inner.MailboxKeyRotationsPending(organizationId);
    public Task<DeleteMailboxResult?> DeleteMailboxAsync(string organizationId, string owner, CancellationToken ct) => inner.DeleteMailboxAsync(organizationId, owner, ct);
    public IReadOnlyDictionary<string, byte[]> ReadMetadata(string mailboxId, string? folderId) => inner.ReadMetadata(mailboxId, folderId);
    public Task SetMetadataAsync(string mailboxId, string? folderId, IReadOnlyList<KeyValuePair<string, byte[]?>> entries, int maxEntries, CancellationToken ct) { Check(nameof(SetMetadataAsync)); return inner.SetMetadataAsync(mailboxId, folderId, entries, maxEntries, ct); }
    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> ReadFolderAcl(string mailboxId) => inner.ReadFolderAcl(mailboxId);
    public Task SetFolderAclAsync(string mailboxId, string folderId, string identifier, string? rights, CancellationToken ct) { Check(nameof(SetFolderAclAsync)); return inner.SetFolderAclAsync(mailboxId, folderId, identifier, rights, ct); }
    public Task<StoredMessage> ReplaceAsync(string mailboxId, string folderName, AppendItem message, string replacedFolderId, uint replacedUid, CancellationToken ct) { Check(nameof(ReplaceAsync)); return inner.ReplaceAsync(mailboxId, folderName, message, replacedFolderId, replacedUid, ct); }
    public ValueTask DisposeAsync() => ValueTask.CompletedTask; // the test server owns the inner store
}
