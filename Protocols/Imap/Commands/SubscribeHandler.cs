using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>SUBSCRIBE / UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8).</summary>
internal static class SubscribeHandler
{
    public static Task<ImapCompletion> RunAsync(SubscribeCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        session.Subscriptions.Set(session.Account.MailboxId, MailboxNames.FromWire(command.Mailbox), true);
        return Task.FromResult(ImapCompletion.Ok("SUBSCRIBE completed"));
    }

    public static Task<ImapCompletion> RunUnsubscribeAsync(UnsubscribeCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        session.Subscriptions.Set(session.Account.MailboxId, MailboxNames.FromWire(command.Mailbox), false);
        return Task.FromResult(ImapCompletion.Ok("UNSUBSCRIBE completed"));
    }
}
