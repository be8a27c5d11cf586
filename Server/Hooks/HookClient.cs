using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using MailServer.Rules.FlowRules;
using MailServer.Rules.Hooks;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Hooks;

/// <summary>What one HTTP call to a hook gave. A closed set.</summary>
public abstract record HookCallResult
{
    private HookCallResult() { }

    /// <summary>A 2xx answer with its body (at most 256 KB + 1 byte were read, so an oversized body is recognisable).</summary>
    public sealed record Responded(byte[] Body) : HookCallResult;

    /// <summary>No usable answer: connection error, timeout, or a non-2xx status.</summary>
    public sealed record Failed(string Reason) : HookCallResult;
}

/// <summary>Timing of hook calls. The defaults are §10.4's; tests shorten them.</summary>
public sealed record HookClientOptions
{
    /// <summary>§10.4: a hook must answer within 15 seconds or the call failed.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>The first retry's delay; each later one doubles (§10.5 "exponential backoff").</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest delay between two attempts.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>The retry window of a rule (§10.4: RuleTimeoutMinutes, 0 = no retries).</summary>
    public Func<HookDefinition, TimeSpan> RuleTimeout { get; init; } = h => TimeSpan.FromMinutes(h.RuleTimeoutMinutes);
}

/// <summary>
/// Calls flow-rule hooks over HTTP (WorkMail Administrator Guide, "Lambda integration"; docs/decisions.md, "Hooks are HTTP webhooks"): POST of the §10.2 event JSON,
/// signed with HMAC-SHA256 over the exact body bytes under the rule's Secret in <see cref="SignatureHeader"/>
/// (<c>sha256=</c> and lower-case hex), the invocation id in <see cref="InvocationHeader"/>. Redirects are
/// not followed. Thread-safe; one instance per process.
/// </summary>
public sealed class HookClient(HttpClient http, HookClientOptions options, TimeProvider time, ILogger<HookClient> logger)
{
    /// <summary>The signature header: <c>sha256=&lt;hex of HMAC-SHA256(secret, body)&gt;</c>; absent when the rule has no Secret.</summary>
    public const string SignatureHeader = "X-MailServer-Signature";

    /// <summary>The invocation id header, the same as the body's <c>invocationId</c> (receivers can dedupe without parsing).</summary>
    public const string InvocationHeader = "X-MailServer-Invocation-Id";

    /// <summary>The signature a receiver should compute for <paramref name="body"/>.</summary>
    public static string Sign(ReadOnlySpan<byte> body, string secret) =>
        "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    /// <summary>One POST, bounded by the call timeout. Never throws except for <paramref name="cancellationToken"/>.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<HookCallResult> CallAsync(HookDefinition hook, byte[] body, string invocationId, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.CallTimeout);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, hook.Url);
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
            request.Headers.TryAddWithoutValidation(InvocationHeader, invocationId);
            if (hook.Secret is { Length: > 0 } secret)
                request.Headers.TryAddWithoutValidation(SignatureHeader, Sign(body, secret));
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                return new HookCallResult.Failed($"HTTP {(int)response.StatusCode}");
            await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
            var limit = HookResponseParser.MaxResponseBytes + 1;
            var buffer = new MemoryStream();
            var chunk = new byte[16 * 1024];
            int read;
            while (buffer.Length < limit && (read = await stream.ReadAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, limit - buffer.Length)), timeout.Token).ConfigureAwait(false)) > 0)
                buffer.Write(chunk, 0, read);
            return new HookCallResult.Responded(buffer.ToArray());
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new HookCallResult.Failed($"no answer within {options.CallTimeout.TotalSeconds:0.###} s");
        }
        catch (HttpRequestException e)
        {
            return new HookCallResult.Failed(e.HttpRequestError == HttpRequestError.Unknown ? e.Message : e.HttpRequestError.ToString());
        }
    }

    /// <summary>
    /// A synchronous hook (§10.5): call; on an error, timeout or invalid response retry with exponential backoff
    /// until the rule timeout has passed (0: one attempt), re-posting the same bytes (same invocation id); then
    /// the fallback action for every recipient. Returns the decision for every recipient.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (shutdown): the caller keeps the message held.</exception>
    public async Task<HookResponse.Decided> RunSynchronousAsync(string ruleName, HookDefinition hook, HookEvent hookEvent,
        HookResponseContext context, CancellationToken cancellationToken)
    {
        var body = HookEventJson.Serialize(hookEvent);
        var deadline = time.GetUtcNow() + options.RuleTimeout(hook);
        var delay = options.InitialBackoff;
        for (var attempt = 1; ; attempt++)
        {
            if (await AttemptAsync(ruleName, hook, body, hookEvent.InvocationId, attempt, context, cancellationToken).ConfigureAwait(false) is HookResponse.Decided decided)
            {
                RulesLog.HookDecided(logger, ruleName, hookEvent.InvocationId, attempt);
                return decided;
            }

            var remaining = deadline - time.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                RulesLog.HookFallback(logger, ruleName, hookEvent.InvocationId, attempt, hook.FallbackAction.ToString());
                return HookResponseParser.Fallback(context);
            }
            await Task.Delay(delay < remaining ? delay : remaining, time, cancellationToken).ConfigureAwait(false);
            delay = delay * 2 < options.MaxBackoff ? delay * 2 : options.MaxBackoff;
        }
    }

    /// <summary>
    /// One call of a synchronous hook (§10.3–§10.5): <see cref="HookResponse.Decided"/> when it answered with a valid
    /// response, else <see cref="HookResponse.Invalid"/> with why (error, timeout, invalid response; logged as event
    /// 7000, never with the secret) as attempt <paramref name="attempt"/>. <paramref name="body"/> is the event as <see cref="HookEventJson.Serialize"/> wrote it.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<HookResponse> AttemptAsync(string ruleName, HookDefinition hook, byte[] body, string invocationId, int attempt,
        HookResponseContext context, CancellationToken cancellationToken)
    {
        var call = await CallAsync(hook, body, invocationId, cancellationToken).ConfigureAwait(false);
        var parsed = call switch
        {
            HookCallResult.Responded responded => HookResponseParser.Parse(responded.Body, context),
            HookCallResult.Failed failed => new HookResponse.Invalid(failed.Reason),
            _ => new HookResponse.Invalid("no result"),
        };
        if (parsed is HookResponse.Decided { IgnoredRecipients.Count: > 0 } decided)
            RulesLog.HookAddedForeignRecipients(logger, ruleName, invocationId, string.Join(", ", decided.IgnoredRecipients));
        if (parsed is HookResponse.Invalid invalid)
            RulesLog.HookAttemptFailed(logger, ruleName, invocationId, attempt, invalid.Reason);
        return parsed;
    }

    /// <summary>
    /// An asynchronous hook (§10.1: "does not affect email delivery"): one call, the answer ignored, a failure
    /// logged. The returned task never faults; callers do not await it on the delivery path.
    /// </summary>
    public async Task FireAsync(string ruleName, HookDefinition hook, HookEvent hookEvent, CancellationToken cancellationToken)
    {
        try
        {
            var result = await CallAsync(hook, HookEventJson.Serialize(hookEvent), hookEvent.InvocationId, cancellationToken).ConfigureAwait(false);
            if (result is HookCallResult.Failed f)
                RulesLog.HookAttemptFailed(logger, ruleName, hookEvent.InvocationId, 1, f.Reason);
            else
                RulesLog.AsyncHookDone(logger, ruleName, hookEvent.InvocationId);
        }
        catch (OperationCanceledException)
        {
            // Shutting down: an async hook is best effort.
        }
    }

    /// <summary>The HttpClient hooks should use: no redirects, no cookies, pooled connections renewed every few minutes.</summary>
    public static HttpClient CreateHttpClient() => new(new SocketsHttpHandler
    {
        AllowAutoRedirect = false,
        UseCookies = false,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        ConnectTimeout = TimeSpan.FromSeconds(15),
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };
}
