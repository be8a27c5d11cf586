using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// GETQUOTAROOT, GETQUOTA and SETQUOTA (RFC 9208) over the user's single quota root "" with the STORAGE resource
/// (QUOTA=RES-STORAGE, in KiB). Limits come from the configuration file, so SETQUOTA is refused.
/// </summary>
internal static class QuotaHandler
{
    /// <summary>RFC 9208 §4.3: the quota roots of a mailbox, then each root's quota.</summary>
    public static Task<ImapCompletion> RunGetQuotaRootAsync(GetQuotaRootCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var named = MailboxNames.RequireNamed(session, command.Mailbox, tryCreate: false);
        if (named.Owner is not null)
        {
            // Another user's quota is theirs to see: no root is reported for their folders (RFC 9208 §4.2 allows none).
            session.Writer.BeginUntagged().Atom("QUOTAROOT").Mailbox(named.ClientName).End();
            return Task.FromResult(ImapCompletion.Ok("GETQUOTAROOT completed"));
        }
        session.Writer.BeginUntagged().Atom("QUOTAROOT").Mailbox(named.ClientName).String(ImapQuota.Root).End();
        WriteQuota(session);
        return Task.FromResult(ImapCompletion.Ok("GETQUOTAROOT completed"));
    }

    /// <summary>RFC 9208 §4.2: the quota of a root; only "" exists.</summary>
    public static Task<ImapCompletion> RunGetQuotaAsync(GetQuotaCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        if (command.QuotaRoot != ImapQuota.Root)
            throw new ImapRefusedException(ResponseCode.NonExistent, "No such quota root");
        WriteQuota(session);
        return Task.FromResult(ImapCompletion.Ok("GETQUOTA completed"));
    }

    /// <summary>RFC 9208 §4.1: a server may refuse SETQUOTA; quotas are set by the administrator in the configuration.</summary>
    public static Task<ImapCompletion> RunSetQuotaAsync(SetQuotaCommand command, ImapSession session, CancellationToken cancellationToken) =>
        throw new ImapRefusedException(ResponseCode.NoPermission, "Quotas are set by the administrator");

    private static void WriteQuota(ImapSession session)
    {
        var used = ImapQuota.ToKiB(ImapQuota.UsedBytes(session));
        var limit = ImapQuota.LimitBytes(session) / 1024; // RFC 9208 §5.1: KiB; rounded down so the limit is never overstated
        session.Writer.BeginUntagged().Atom("QUOTA").String(ImapQuota.Root).BeginList()
            .Atom("STORAGE").Number((ulong)Math.Max(0, used)).Number((ulong)Math.Max(0, limit)).EndList().End();
    }
}
