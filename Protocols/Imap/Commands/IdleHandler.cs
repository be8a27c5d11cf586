using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// IDLE (RFC 2177, RFC 9051 §6.3.13): the client hears of changes as they are committed — the session waits on the
/// store's change feed, never polls — until it sends DONE. Each IDLE re-arms the idle timeout.
/// </summary>
internal static class IdleHandler
{
    public static async Task<ImapCompletion> RunAsync(IdleCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        session.Writer.Continuation("idling");
        var selected = session.Selected;
        selected?.WriteUpdates(session.Writer, allowExpunge: true, session.CondStoreEnabled, session.QResyncEnabled, session.UidOnlyEnabled);
        await SearchUpdates.WriteAsync(session, cancellationToken);
        await session.FlushAsync(session.Shutdown);

        var line = session.ReadLineAsync(session.Shutdown);
        using var stopWaiting = CancellationTokenSource.CreateLinkedTokenSource(session.Shutdown);
        try
        {
            while (true)
            {
                if (selected is null)
                {
                    await line;
                    break;
                }
                var change = selected.WaitForChangeAsync(stopWaiting.Token).AsTask();
                var first = await Task.WhenAny(line, change);
                if (first == line)
                    break;
                if (!await change)
                {
                    await line; // the store is closing; the session ends with the listener
                    break;
                }
                if (!selected.StillExists())
                    throw new ImapSelectionLostException("The selected mailbox was deleted");
                selected.WriteUpdates(session.Writer, allowExpunge: true, session.CondStoreEnabled, session.QResyncEnabled, session.UidOnlyEnabled);
                await SearchUpdates.WriteAsync(session, cancellationToken); // driven by the same feed, never polled
                await session.FlushAsync(session.Shutdown);
            }
        }
        finally
        {
            await stopWaiting.CancelAsync();
        }
        var done = await line ?? throw new IOException("The client left during IDLE.");
        if (!IdleSyntax.IsDone(done.Span))
            throw new ImapSyntaxException("Expected DONE");
        return ImapCompletion.Ok("IDLE terminated");
    }
}
