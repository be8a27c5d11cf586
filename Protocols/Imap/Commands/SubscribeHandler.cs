using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>SUBSCRIBE / UNSUBSCRIBE (RFC 9051 §6.3.7, §6.3.8).</summary>
internal static class SubscribeHandler
{
    // RFC 9051 §6.3.7: the name need not exist; the subscription is durable in the store.
    public static async Task<ImapCompletion> RunAsync(SubscribeCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        await session.Store.SetSubscribedAsync(session.Account.MailboxId, MailboxNames.FromWire(session, command.Mailbox), true, cancellationToken);
        return ImapCompletion.Ok("SUBSCRIBE completed");
    }

    public static async Task<ImapCompletion> RunUnsubscribeAsync(UnsubscribeCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        await session.Store.SetSubscribedAsync(session.Account.MailboxId, MailboxNames.FromWire(session, command.Mailbox), false, cancellationToken);
        return ImapCompletion.Ok("UNSUBSCRIBE completed");
    }
}
