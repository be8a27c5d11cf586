using System.Net;
using System.Net.Http.Headers;
using MailServer.Rules.ContentFiltering;

namespace MailServer.Server.ContentFiltering;

/// <summary>What rspamd is told about a message besides its bytes (rspamd's HTTP protocol request headers).</summary>
/// <param name="ClientAddress">The SMTP client's address (<c>IP</c>).</param>
/// <param name="Helo">Its EHLO/HELO name (<c>Helo</c>).</param>
/// <param name="MailFrom">The envelope sender (<c>From</c>); "" for the null reverse-path.</param>
/// <param name="Recipients">The envelope recipients (one <c>Rcpt</c> each).</param>
/// <param name="User">The authenticated submitter (<c>User</c>): rspamd then applies its settings for authenticated users.</param>
/// <param name="QueueId">Our trace id (<c>Queue-Id</c>), so rspamd's log names the message as ours does.</param>
public sealed record RspamdEnvelope(IPAddress? ClientAddress, string? Helo, string MailFrom, IReadOnlyList<string> Recipients, string? User, string QueueId);

/// <summary>
/// rspamd's HTTP protocol: <c>POST /checkv2</c> on the normal worker (the message as the body, the envelope as headers,
/// a JSON verdict back) and <c>POST /learnspam</c> / <c>/learnham</c> on the controller worker. One instance shares
/// one <see cref="HttpClient"/>; calls run concurrently.
/// </summary>
public sealed class RspamdClient(HttpClient http)
{
    /// <summary>The <see cref="HttpClient"/> the server uses for rspamd: headers in UTF-8 (RFC 6531 addresses), no proxy, pooled connections.</summary>
    public static HttpClient CreateHttpClient() => new(new SocketsHttpHandler
    {
        UseProxy = false,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        RequestHeaderEncodingSelector = (_, _) => System.Text.Encoding.UTF8,
        ConnectTimeout = TimeSpan.FromSeconds(5),
    })
    {
        Timeout = System.Threading.Timeout.InfiniteTimeSpan, // each call brings its own deadline
    };

    /// <summary>Scans one message.</summary>
    /// <exception cref="HttpRequestException">rspamd cannot be reached or answered with an error status.</exception>
    /// <exception cref="FormatException">rspamd's answer is not a verdict.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired (the caller's deadline).</exception>
    public async Task<SpamScan> CheckAsync(Uri server, Stream content, RspamdEnvelope envelope, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server, "checkv2")) { Content = Body(content) };
        var h = request.Headers;
        if (envelope.ClientAddress is { } ip)
            h.TryAddWithoutValidation("IP", (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString());
        if (!string.IsNullOrEmpty(envelope.Helo))
            h.TryAddWithoutValidation("Helo", envelope.Helo);
        h.TryAddWithoutValidation("From", envelope.MailFrom.Length == 0 ? "<>" : envelope.MailFrom);
        foreach (var r in envelope.Recipients)
            h.TryAddWithoutValidation("Rcpt", r);
        if (envelope.User is { } user)
            h.TryAddWithoutValidation("User", user);
        h.TryAddWithoutValidation("Queue-Id", envelope.QueueId);
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"rspamd answered {(int)response.StatusCode}.", null, response.StatusCode);
        return ContentVerdicts.ParseCheckReply(body);
    }

    /// <summary>
    /// Teaches rspamd's Bayes classifier that the message is spam (<paramref name="spam"/>) or ham. A message rspamd has
    /// already learned as that class counts as learned.
    /// </summary>
    /// <exception cref="HttpRequestException">The controller cannot be reached or refused the message.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> fired.</exception>
    public async Task LearnAsync(Uri controller, bool spam, Stream content, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(controller, spam ? "learnspam" : "learnham")) { Content = Body(content) };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
            return;
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        // rspamd answers 208 Already Reported ("... has been already learned as spam") for a repeat: nothing to do.
        if ((int)response.StatusCode == 208 || text.Contains("already learned", StringComparison.OrdinalIgnoreCase))
            return;
        throw new HttpRequestException($"rspamd's controller answered {(int)response.StatusCode}: {text[..Math.Min(200, text.Length)]}", null, response.StatusCode);
    }

    /// <summary>True when rspamd answers <c>GET /ping</c> with pong.</summary>
    public async Task<bool> PingAsync(Uri server, CancellationToken cancellationToken)
    {
        try
        {
            var text = await http.GetStringAsync(new Uri(server, "ping"), cancellationToken).ConfigureAwait(false);
            return text.Contains("pong", StringComparison.OrdinalIgnoreCase);
        }
        catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
        {
            return false;
        }
    }

    private static StreamContent Body(Stream content)
    {
        var body = new StreamContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("message/rfc822");
        if (content.CanSeek)
            body.Headers.ContentLength = content.Length - content.Position;
        return body;
    }
}
