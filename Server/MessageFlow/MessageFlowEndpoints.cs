using System.Security.Cryptography;
using System.Text;
using MailServer.Server.Admin;
using MailServer.Server.Configuration;
using MailServer.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using MimeKit;

namespace MailServer.Server.MessageFlow;

/// <summary>
/// The message flow API (§11) on the admin listener, for hooks:
/// <list type="bullet">
/// <item><c>GET /messageflow/{messageId}</c> → 200 <c>message/rfc822</c> with the raw MIME of a message in transit
/// (kept 24 hours), 404 when unknown, expired or another organization's.</item>
/// <item><c>PUT /messageflow/{messageId}</c> with a raw MIME body → 204 when replaced; 400 with
/// <c>{"error": ...}</c> when the body is not an RFC 5322 message (parse failure, no From, no Date);
/// 409 when no synchronous hook holds the message (§11: PutRawMessageContent only with a synchronous hook).</item>
/// </list>
/// Every call needs <c>Authorization: Bearer &lt;token&gt;</c>, a token of the message's organization
/// (<c>Organizations[].MessageFlowApi.Tokens[]</c>) whose <c>Contexts</c> include the message's context
/// (incoming/outgoing), and <c>AllowUpdate</c> for PUT; 401 without a known token, 403 out of scope.
/// </summary>
public sealed class MessageFlowEndpoints(IMessageFlowStore store, ConfigMonitor monitor) : IAdminEndpoints
{
    /// <inheritdoc />
    public void Map(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/messageflow/{messageId:guid}", GetAsync);
        endpoints.MapPut("/messageflow/{messageId:guid}", PutAsync);
    }

    private async Task<IResult> GetAsync(Guid messageId, HttpContext http)
    {
        if (Authorize(http, messageId, update: false) is { } refusal)
            return refusal;
        var content = await store.ReadInTransitAsync(messageId, http.RequestAborted).ConfigureAwait(false);
        return content is null ? NotFound() : Results.Bytes(content, "message/rfc822");
    }

    private async Task<IResult> PutAsync(Guid messageId, HttpContext http)
    {
        if (Authorize(http, messageId, update: true) is { } refusal)
            return refusal;
        var limit = monitor.Config.Limits.MaxMessageBytes;
        using var body = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await http.Request.Body.ReadAsync(buffer, http.RequestAborted).ConfigureAwait(false)) > 0)
        {
            if (body.Length + read > limit)
                return Results.Json(new { error = $"the message is larger than {limit} bytes" }, statusCode: StatusCodes.Status413PayloadTooLarge);
            body.Write(buffer, 0, read);
        }
        if (Validate(body.ToArray()) is { } invalid)
            return Results.Json(new { error = invalid }, statusCode: StatusCodes.Status400BadRequest);
        if (store.FindInTransit(messageId) is not { Updatable: true })
            return Results.Json(new { error = "the message can be replaced only while a synchronous hook holds it" }, statusCode: StatusCodes.Status409Conflict);
        return await store.ReplaceInTransitAsync(messageId, body.ToArray(), http.RequestAborted).ConfigureAwait(false)
            ? Results.NoContent()
            : Results.Json(new { error = "the message can be replaced only while a synchronous hook holds it" }, statusCode: StatusCodes.Status409Conflict);
    }

    /// <summary>
    /// §11 [SH]: "parse strictly and require the RFC 5322 headers". RFC 5322 §3.6: a message has exactly one
    /// From and one Date (orig-date). Returns the reason it is refused, or null.
    /// </summary>
    internal static string? Validate(byte[] content)
    {
        if (content.Length == 0)
            return "the body is empty: send the raw MIME message";
        MimeMessage message;
        try
        {
            var options = ParserOptions.Default.Clone();
            options.AddressParserComplianceMode = RfcComplianceMode.Strict;
            options.ParameterComplianceMode = RfcComplianceMode.Strict;
            message = MimeMessage.Load(options, new MemoryStream(content));
        }
        catch (FormatException e)
        {
            return $"not a MIME message: {e.Message}";
        }
        var headers = message.Headers;
        if (headers.Count(h => h.Id == HeaderId.From) != 1 || message.From.Count == 0)
            return "RFC 5322 §3.6: a message needs exactly one From header with an address";
        if (headers.Count(h => h.Id == HeaderId.Date) != 1)
            return "RFC 5322 §3.6: a message needs exactly one Date header";
        if (!MimeKit.Utils.DateUtils.TryParse(headers[HeaderId.Date], out _))
            return "RFC 5322 §3.3: the Date header is not a valid date";
        return null;
    }

    private IResult? Authorize(HttpContext http, Guid messageId, bool update)
    {
        var header = http.Request.Headers.Authorization.ToString();
        var presented = header.StartsWith("Bearer ", StringComparison.Ordinal) ? header["Bearer ".Length..].Trim() : "";
        var matches = presented.Length == 0
            ? []
            : monitor.Config.Organizations
                .SelectMany(o => (o.MessageFlowApi?.Tokens ?? []).Select(t => (Organization: o.Id, Token: t)))
                .Where(x => FixedTimeEquals(x.Token.Token, presented))
                .ToList();
        if (matches.Count == 0)
        {
            http.Response.Headers.WWWAuthenticate = "Bearer realm=\"mailserver-messageflow\"";
            return Results.Json(new { error = "a message flow API token is required (Authorization: Bearer <token>)" }, statusCode: StatusCodes.Status401Unauthorized);
        }
        var message = store.FindInTransit(messageId);
        if (message is null || matches.All(m => m.Organization != message.OrganizationId))
            return NotFound();
        var context = message.Context == MessageFlowContext.Incoming ? "incoming" : "outgoing";
        var allowed = matches.Any(m => m.Organization == message.OrganizationId && m.Token.Contexts.Contains(context) && (!update || m.Token.AllowUpdate));
        return allowed ? null : Results.Json(new { error = update ? $"this token may not update {context} messages" : $"this token may not read {context} messages" },
            statusCode: StatusCodes.Status403Forbidden);
    }

    private static IResult NotFound() =>
        Results.Json(new { error = "no message in transit with this id (messages are kept 24 hours)" }, statusCode: StatusCodes.Status404NotFound);

    private static bool FixedTimeEquals(string expected, string presented) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(expected)), SHA256.HashData(Encoding.UTF8.GetBytes(presented)));
}
