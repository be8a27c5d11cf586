using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace MailServer.Storage.PostgreSql;

/// <summary>
/// The change feed across nodes. A write announces its changes with <c>pg_notify</c> inside its own transaction, so
/// PostgreSQL delivers the notification exactly when (and only if) the transaction commits, in commit order. Each store
/// keeps one connection that LISTENs and hands other nodes' changes to its local <see cref="ChangeFeed"/>; its own
/// changes it publishes itself right after the commit and skips when they come back. When the listening connection is
/// lost, notifications sent meanwhile are lost with it: every subscriber is marked overflowed and resynchronises.
/// </summary>
internal sealed class PostgreSqlChangeListener : IAsyncDisposable
{
    /// <summary>NOTIFY payloads must stay under 8000 bytes; changes are split into notifications of at most this size.</summary>
    private const int MaxPayloadBytes = 7000;

    /// <summary>Expunged UIDs per announced change (a bigger expunge is announced as several changes of the same MODSEQ).</summary>
    private const int MaxUidsPerChange = 400;

    private static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };

    private readonly NpgsqlDataSource _data;
    private readonly ChangeFeed _feed;
    private readonly string _origin;
    private readonly TimeSpan _keepAlive;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _loop;

    public PostgreSqlChangeListener(NpgsqlDataSource data, ChangeFeed feed, string origin, TimeSpan keepAlive, ILogger log)
    {
        _data = data;
        _feed = feed;
        _origin = origin;
        _keepAlive = keepAlive;
        _log = log;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Completes once the first LISTEN is in place (changes committed after it reach this store).</summary>
    public Task Listening => _listening.Task;

    /// <summary>The notifications announcing <paramref name="changes"/>, each payload below the NOTIFY limit.</summary>
    public static IEnumerable<string> Payloads(string origin, IReadOnlyList<MailboxChange> changes)
    {
        var batch = new List<ChangeDto>();
        var size = 0;
        foreach (var dto in changes.SelectMany(ToDtos))
        {
            var length = JsonSerializer.SerializeToUtf8Bytes(dto, Json).Length + 1;
            if (batch.Count > 0 && size + length > MaxPayloadBytes)
            {
                yield return JsonSerializer.Serialize(new Notification(origin, [.. batch]), Json);
                batch.Clear();
                size = 0;
            }
            batch.Add(dto);
            size += length;
        }
        if (batch.Count > 0)
            yield return JsonSerializer.Serialize(new Notification(origin, [.. batch]), Json);
    }

    private static IEnumerable<ChangeDto> ToDtos(MailboxChange change)
    {
        switch (change)
        {
            case MailboxChange.MessageAdded a:
                yield return new ChangeDto("a", a.MailboxId, a.FolderId, a.ModSeq, a.Uid, null, null, null);
                break;
            case MailboxChange.FlagsChanged f:
                yield return new ChangeDto("f", f.MailboxId, f.FolderId, f.ModSeq, f.Uid, (int)f.Flags, [.. f.Keywords], null);
                break;
            case MailboxChange.MessagesExpunged e:
                foreach (var chunk in e.Uids.Chunk(MaxUidsPerChange))
                    yield return new ChangeDto("x", e.MailboxId, e.FolderId, e.ModSeq, null, null, null, chunk);
                break;
            case MailboxChange.SubscriptionsChanged s:
                yield return new ChangeDto("s", s.MailboxId, s.FolderId, s.ModSeq, null, null, null, null);
                break;
            case MailboxChange.MetadataChanged m:
                yield return new ChangeDto("m", m.MailboxId, m.FolderId, 0, null, null, null, null); // ids only, no entry name
                break;
            default:
                yield return new ChangeDto("d", change.MailboxId, change.FolderId, change.ModSeq, null, null, null, null);
                break;
        }
    }

    private static MailboxChange FromDto(ChangeDto d) => d.K switch
    {
        "a" => new MailboxChange.MessageAdded(d.M, d.F, d.S, d.U ?? 0),
        "f" => new MailboxChange.FlagsChanged(d.M, d.F, d.S, d.U ?? 0, (MessageFlags)(d.Fl ?? 0), d.Kw ?? []),
        "x" => new MailboxChange.MessagesExpunged(d.M, d.F, d.S, d.Us ?? []),
        "s" => new MailboxChange.SubscriptionsChanged(d.M),
        "m" => new MailboxChange.MetadataChanged(d.M, d.F),
        _ => new MailboxChange.FoldersChanged(d.M, d.F, d.S),
    };

    private async Task RunAsync()
    {
        var token = _stop.Token;
        var first = true;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _data.OpenConnectionAsync(token).ConfigureAwait(false);
                connection.Notification += OnNotification;
                await using (var listen = new NpgsqlCommand($"LISTEN {PostgreSqlSchema.ChangeChannel}", connection))
                    await listen.ExecuteNonQueryAsync(token).ConfigureAwait(false);
                if (!first)
                    _feed.OverflowAll(); // changes committed while nobody listened are unknown: resynchronise
                first = false;
                _listening.TrySetResult();
                while (!token.IsCancellationRequested)
                {
                    if (!await connection.WaitAsync(_keepAlive, token).ConfigureAwait(false))
                    {
                        // Silent for a while: make sure the connection is alive (a dead one throws here).
                        await using var ping = new NpgsqlCommand("SELECT 1", connection);
                        await ping.ExecuteScalarAsync(token).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException or InvalidOperationException)
            {
                PostgreSqlLog.ListenerLost(_log, e);
                _feed.OverflowAll();
                try { await Task.Delay(TimeSpan.FromSeconds(1), token).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
            }
        }
    }

    private void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        try
        {
            var notification = JsonSerializer.Deserialize<Notification>(e.Payload, Json);
            if (notification is null || notification.O == _origin)
                return;
            _feed.Publish(notification.C.Select(FromDto).ToList());
        }
        catch (JsonException ex)
        {
            PostgreSqlLog.BadNotification(_log, ex);
            _feed.OverflowAll();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The connection is closed with the data source.
        }
        _stop.Dispose();
    }

    /// <summary>One notification: the origin store and its changes.</summary>
    private sealed record Notification(string O, ChangeDto[] C);

    /// <summary>A change on the wire: kind (a added, f flags, x expunged, d folders), mailbox, folder, MODSEQ, UID,
    /// flags, keywords, expunged UIDs.</summary>
    private sealed record ChangeDto(string K, string M, string F, ulong S, uint? U, int? Fl, string[]? Kw, uint[]? Us);
}
