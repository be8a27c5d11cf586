using MailServer.Server.Audit;
using MailServer.Server.Configuration;
using MailServer.Storage;

namespace MailServer.Server.Retention;

/// <summary>What one folder of one mailbox got from a retention run.</summary>
/// <param name="Mailbox">The owner's address.</param>
/// <param name="Folder">The folder's name.</param>
/// <param name="Action">Delete (moved to Deleted Items) or PermanentlyDelete (expunged).</param>
/// <param name="Count">How many messages (or, in a dry run, would be).</param>
public sealed record RetentionFolderResult(string Mailbox, string Folder, RetentionAction Action, int Count);

/// <summary>The outcome of a retention run.</summary>
/// <param name="DryRun">True when nothing was changed.</param>
/// <param name="MailboxesChecked">Mailboxes looked at.</param>
/// <param name="Moved">Messages moved to Deleted Items.</param>
/// <param name="Deleted">Messages permanently deleted.</param>
/// <param name="Folders">Each folder that had anything to do.</param>
public sealed record RetentionReport(bool DryRun, int MailboxesChecked, int Moved, int Deleted, IReadOnlyList<RetentionFolderResult> Folders);

/// <summary>
/// Applies each organization's RetentionPolicy (WorkMail Administrator Guide, "Mailbox retention policies"; docs/decisions.md, "Retention") to every user's mailbox once:
/// in each folder with a policy, messages whose last create, change or move (<see cref="MessageMeta.LastActionAt"/>)
/// is more than Days days ago are moved to Deleted Items (Delete; from Deleted Items itself Delete is permanent)
/// or expunged (PermanentlyDelete). It goes through the store's move and delete operations, so IMAP clients see
/// the changes through the change feed. Each affected message gets a MailboxAccess audit event by "system".
/// </summary>
public sealed class RetentionRunner(IRetentionStore store, TimeProvider? time = null, IAuditLog? audit = null)
{
    /// <summary>The audit user of retention actions (§16 [SH]: user = system).</summary>
    public const string SystemUser = "system";

    private const int BatchSize = 500;
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Runs every organization's policy once.</summary>
    /// <param name="config">The configuration in force (organizations, users, policies).</param>
    /// <param name="dryRun">Count what would happen and change nothing.</param>
    /// <param name="cancellationToken">Stops between batches; what was done stays done.</param>
    public async Task<RetentionReport> RunAsync(ServerConfig config, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(config);
        var now = _time.GetUtcNow();
        var results = new List<RetentionFolderResult>();
        int mailboxes = 0, moved = 0, deleted = 0;
        foreach (var org in config.Organizations.Where(o => o.RetentionPolicy.Folders.Count > 0))
        {
            foreach (var user in org.Users)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (store.FindMailbox(org.Id, user.Email) is not { } mailbox)
                    continue;
                mailboxes++;
                foreach (var policy in org.RetentionPolicy.Folders)
                {
                    var folder = store.FindFolder(mailbox.MailboxId, StoreFolderName(policy.Folder));
                    if (folder is null)
                        continue;
                    var cutoff = now - TimeSpan.FromDays(policy.Days);
                    var expired = store.ListMessages(folder.FolderId).Where(m => m.LastActionAt < cutoff).ToList();
                    if (expired.Count == 0)
                        continue;
                    var permanent = policy.Action == RetentionAction.PermanentlyDelete || folder.SpecialUse == SpecialUse.Trash;
                    var trash = permanent ? null : store.ListFolders(mailbox.MailboxId).FirstOrDefault(f => f.SpecialUse == SpecialUse.Trash);
                    permanent |= trash is null; // no Deleted Items to move to: nothing to recover into
                    results.Add(new RetentionFolderResult(user.Email, folder.Name, policy.Action, expired.Count));
                    if (permanent) deleted += expired.Count; else moved += expired.Count;
                    if (dryRun)
                        continue;
                    foreach (var batch in expired.Chunk(BatchSize))
                    {
                        cancellationToken.ThrowIfCancellationRequested();
                        var uids = batch.Select(m => m.Uid).ToList();
                        if (permanent)
                            await store.PermanentlyDeleteAsync(folder.FolderId, uids, cancellationToken).ConfigureAwait(false);
                        else
                            await store.MoveAsync(folder.FolderId, uids, trash!.FolderId, cancellationToken).ConfigureAwait(false);
                        Audit(org.Id, user.Email, folder, batch, permanent);
                    }
                }
            }
        }
        return new RetentionReport(dryRun, mailboxes, moved, deleted, results);
    }

    /// <summary>The config names Inbox as WorkMail does; the store calls it INBOX (RFC 9051 §5.1).</summary>
    private static string StoreFolderName(string policyFolder) =>
        string.Equals(policyFolder, "Inbox", StringComparison.OrdinalIgnoreCase) ? WellKnownFolders.Inbox : policyFolder;

    private void Audit(string organizationId, string owner, FolderInfo folder, IEnumerable<MessageMeta> messages, bool permanent)
    {
        if (audit is null)
            return;
        var requestId = AuditEvent.NewRequestId();
        foreach (var message in messages)
            audit.Write(new MailboxAccessAuditEvent(organizationId, requestId, SystemUser, "RetentionPolicy", "127.0.0.1",
                permanent ? MailboxActions.Delete : MailboxActions.Move, owner, "Message", ActionAllowed: true,
                ItemId: message.EntryId, FolderPath: folder.Name, FolderId: folder.FolderId));
    }
}
