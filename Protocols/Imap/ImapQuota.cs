using MailServer.Storage;

namespace MailServer.Protocols.Imap;

/// <summary>
/// The user's one quota root (RFC 9208): "" with the STORAGE resource. The limit is the directory's
/// MailboxQuotaBytes read per command (a configuration reload applies at once); usage is the store's
/// <see cref="MailboxInfo.UsedBytes"/>. The admin sets quotas in the configuration file, so SETQUOTA is refused.
/// </summary>
internal static class ImapQuota
{
    /// <summary>The name of the single quota root (RFC 9208 §3.5 allows the empty name).</summary>
    public const string Root = "";

    /// <summary>The live quota limit in bytes.</summary>
    public static long LimitBytes(ImapSession session)
    {
        var user = session.Account.User;
        return session.Directory?.Current.FindUser(user.Email)?.MailboxQuotaBytes ?? user.MailboxQuotaBytes;
    }

    /// <summary>The bytes the mailbox holds now.</summary>
    public static long UsedBytes(ImapSession session)
    {
        var mailbox = session.Account.Mailbox;
        return session.Store.FindMailbox(mailbox.OrganizationId, mailbox.Owner)?.UsedBytes ?? mailbox.UsedBytes;
    }

    /// <summary>Refuses an operation that would add <paramref name="addedBytes"/> beyond the quota.</summary>
    /// <exception cref="QuotaExceededException">The mailbox would exceed its quota (the session answers NO [OVERQUOTA], RFC 9208 §4.3).</exception>
    /// <param name="session">The session.</param>
    /// <param name="addedBytes">The bytes the operation adds.</param>
    /// <param name="owner">The other user whose mailbox receives them (Full Access), or null for the user's own.</param>
    public static void EnsureRoom(ImapSession session, long addedBytes, MailServer.Rules.Directory.DirectoryUser? owner = null)
    {
        if (owner is not null)
        {
            // Another user's mailbox counts against that user's quota (their live directory entry).
            var ownerMailbox = session.Store.FindMailbox(owner.OrganizationId, owner.Email);
            var ownerLimit = session.Directory?.Current.FindUser(owner.Email)?.MailboxQuotaBytes ?? owner.MailboxQuotaBytes;
            if (ownerMailbox is not null && ownerMailbox.UsedBytes + addedBytes > ownerLimit)
                throw new QuotaExceededException(ownerMailbox.MailboxId, ownerMailbox.UsedBytes, ownerLimit);
            return;
        }
        var used = UsedBytes(session);
        var limit = LimitBytes(session);
        if (used + addedBytes > limit)
            throw new QuotaExceededException(session.Account.MailboxId, used, limit);
    }

    /// <summary>Bytes as the KiB units of the STORAGE resource, rounded up (RFC 9208 §5.1).</summary>
    public static long ToKiB(long bytes) => (bytes + 1023) / 1024;
}
