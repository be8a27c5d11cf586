using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// NOTIFY (RFC 5465 §3): <c>NOTIFY SET [STATUS] (filter events) ...</c> replaces what the session is told of without
/// asking (<see cref="MailboxNotifications"/>); <c>NOTIFY NONE</c> stops it. A refused NOTIFY (BAD, or
/// <c>NO [BADEVENT]</c>) leaves the earlier one in force.
/// </summary>
internal static class NotifyHandler
{
    public static Task<ImapCompletion> RunAsync(NotifyCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        if (command.Groups is not { } groups)
        {
            session.Notifications?.Dispose();
            session.Notifications = null;
            return Task.FromResult(ImapCompletion.Ok("NOTIFY completed"));
        }
        var notifications = MailboxNotifications.Start(session, groups);
        session.Notifications?.Dispose();
        session.Notifications = notifications;
        // RFC 5465 §3.1: with STATUS, the current state of each mailbox the groups name, before the tagged OK.
        if (command.Status)
            notifications.WriteInitialStatus(session);
        return Task.FromResult(ImapCompletion.Ok("NOTIFY completed"));
    }
}
