using System.Diagnostics;
using System.Runtime.InteropServices;
using MailServer.Rules.ContentFiltering;
using MailServer.Server.Configuration;
using MailServer.Server.Logging;
using MailServer.Server.MailFlow;
using MailServer.Server.Metrics;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.ContentFiltering;

/// <summary>What the engines found for one message and what the filter decided.</summary>
/// <param name="Spam">rspamd's answer; null when rspamd is not configured or failed.</param>
/// <param name="Virus">clamd's answer; null when clamd is not configured or failed.</param>
/// <param name="EngineFailed">True when a configured engine gave no answer.</param>
/// <param name="Decision">The decision (<see cref="ContentVerdicts.Decide"/>).</param>
/// <param name="Organizations">The organizations whose recipients the verdict applies to (filtering enabled there).</param>
public sealed record ContentScanResult(SpamScan? Spam, VirusScan? Virus, bool EngineFailed, ContentDecision Decision, IReadOnlySet<string> Organizations)
{
    /// <summary>True when the verdict is spam (filed in Junk, or refused as spam).</summary>
    public bool IsSpam => Decision is ContentDecision.Deliver { Spam: true } or ContentDecision.RefuseSpam;

    /// <summary>The event log's <c>virusVerdict</c>: PASS, FAIL, or null when clamd did not scan.</summary>
    public string? VirusVerdict => Virus switch
    {
        VirusScan.Infected => "FAIL",
        VirusScan.Clean => "PASS",
        _ => null,
    };
}

/// <summary>
/// Asks both engines about one message at the same time, each under the configured timeout, and decides. An engine that
/// fails or times out is logged and counted; <see cref="ContentFilteringConfig.FailMode"/> says what that means. No lock
/// is shared between messages: every scan has its own HTTP request and its own clamd connection.
/// </summary>
public sealed class ContentScanner(RspamdClient rspamd, ClamdClient clamd, ILogger<ContentScanner> logger, MailMetrics? metrics = null)
{
    /// <summary>A read-only stream over the message's bytes, without copying them (the one place the filter reads the body).</summary>
    public static Stream OpenContent(MailFlowMessage message) =>
        MemoryMarshal.TryGetArray(message.Content, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(message.Content.ToArray(), writable: false);

    /// <summary>Scans <paramref name="message"/> with the engines of <paramref name="config"/>.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired (the session ended).</exception>
    public async Task<ContentScanResult> ScanAsync(MailFlowMessage message, ContentFilteringConfig config, ScanDirection direction,
        IReadOnlySet<string> organizations, CancellationToken cancellationToken)
    {
        var spamTask = config.RspamdUrl is { } url ? CheckSpamAsync(url, message, config, cancellationToken) : Task.FromResult<(SpamScan?, bool, long)>((null, false, 0));
        var virusTask = config.ClamdAddress is { } clam ? CheckVirusAsync(clam, message, config, cancellationToken) : Task.FromResult<(VirusScan?, bool, long)>((null, false, 0));
        var (spam, spamFailed, spamMs) = await spamTask.ConfigureAwait(false);
        var (virus, virusFailed, virusMs) = await virusTask.ConfigureAwait(false);
        var failed = spamFailed || virusFailed;
        var decision = ContentVerdicts.Decide(spam, virus, failed, config.FailMode, direction);
        ContentFilteringLog.Scanned(logger, message.LogId, spam?.ActionName ?? "-", spam?.Score ?? 0,
            spam is null ? "-" : string.Join(',', spam.SymbolNames.Take(20)),
            virus switch { VirusScan.Infected i => i.Signature, VirusScan.Clean => "clean", _ => "-" }, DecisionName(decision), spamMs, virusMs);
        metrics?.ContentFilterVerdict(DecisionName(decision));
        return new ContentScanResult(spam, virus, failed, decision, organizations);
    }

    /// <summary>The metric's name for a decision.</summary>
    public static string DecisionName(ContentDecision decision) => decision switch
    {
        ContentDecision.RefuseVirus => "virus",
        ContentDecision.RefuseSpam => "spam_rejected",
        ContentDecision.Defer => "deferred",
        ContentDecision.Deliver { Unscanned: true } => "unscanned",
        ContentDecision.Deliver { Spam: true } => "spam",
        _ => "clean",
    };

    private async Task<(SpamScan?, bool Failed, long Ms)> CheckSpamAsync(Uri url, MailFlowMessage message, ContentFilteringConfig config, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(config.Timeout);
        try
        {
            await using var content = OpenContent(message);
            var envelope = new RspamdEnvelope(message.Client?.RemoteEndPoint.Address, message.Client?.HeloName, message.ReversePath,
                message.Recipients.Select(r => r.Address).ToList(), message.Submitter?.Email, message.LogId);
            var scan = await rspamd.CheckAsync(url, content, envelope, deadline.Token).ConfigureAwait(false);
            metrics?.ContentEngineLatency("rspamd", clock.Elapsed);
            return (scan, false, clock.ElapsedMilliseconds);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested && e is HttpRequestException or FormatException or OperationCanceledException or IOException)
        {
            metrics?.ContentEngineFailure("rspamd");
            ContentFilteringLog.EngineFailed(logger, message.LogId, "rspamd", e is OperationCanceledException ? $"no answer within {config.TimeoutSeconds} s" : e.Message,
                config.FailMode.ToString());
            return (null, true, clock.ElapsedMilliseconds);
        }
    }

    private async Task<(VirusScan?, bool Failed, long Ms)> CheckVirusAsync(ClamdEndPoint endPoint, MailFlowMessage message, ContentFilteringConfig config, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(config.Timeout);
        try
        {
            await using var content = OpenContent(message);
            var scan = await clamd.ScanAsync(endPoint, content, deadline.Token).ConfigureAwait(false);
            metrics?.ContentEngineLatency("clamd", clock.Elapsed);
            return (scan, false, clock.ElapsedMilliseconds);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested
                                  && e is System.Net.Sockets.SocketException or IOException or FormatException or OperationCanceledException)
        {
            metrics?.ContentEngineFailure("clamd");
            ContentFilteringLog.EngineFailed(logger, message.LogId, "clamd", e is OperationCanceledException ? $"no answer within {config.TimeoutSeconds} s" : e.Message,
                config.FailMode.ToString());
            return (null, true, clock.ElapsedMilliseconds);
        }
    }
}
