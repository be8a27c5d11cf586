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
        while (true)
        {
            // RFC 5465: what NOTIFY asked for goes on during IDLE, from the same feed.
            var notifications = session.Notifications;
            if (selected is null && notifications is null)
            {
                await line;
                break;
            }
            using var round = CancellationTokenSource.CreateLinkedTokenSource(session.Shutdown);
            var change = selected?.WaitForChangeAsync(round.Token).AsTask();
            var notified = notifications?.WaitAsync(round.Token).AsTask();
            var first = await Task.WhenAny(new Task?[] { line, change, notified }.OfType<Task>());
            await round.CancelAsync();
            if (first == line)
                break;
            if (!await (Task<bool>)first)
            {
                await line; // the store is closing; the session ends with the listener
                break;
            }
            if (selected is not null)
            {
                if (!selected.StillExists())
                    throw new ImapSelectionLostException("The selected mailbox was deleted");
                // The owner's DELETEACL / SETACL is on the feed (FoldersChanged): a sharee who may no longer read is told at once.
                if (selected.SharedOwner is not null && !FolderRights.OfSelected(session).Contains('r', StringComparison.Ordinal))
                    throw new ImapSelectionLostException("Access to the mailbox was withdrawn");
                if (notifications is { PushesSelected: true })
                {
                    await notifications.WriteSelectedAsync(session, cancellationToken, allowExpunge: true);
                }
                else
                {
                    selected.WriteUpdates(session.Writer, allowExpunge: true, session.CondStoreEnabled, session.QResyncEnabled, session.UidOnlyEnabled);
                    await SearchUpdates.WriteAsync(session, cancellationToken); // driven by the same feed, never polled
                }
            }
            if (notifications is not null)
                await notifications.WriteAsync(session, selectedToo: false, cancellationToken);
            await session.FlushAsync(session.Shutdown);
        }
        var done = await line ?? throw new IOException("The client left during IDLE.");
        if (!IdleSyntax.IsDone(done.Span))
            throw new ImapSyntaxException("Expected DONE");
        return ImapCompletion.Ok("IDLE terminated");
    }
}
