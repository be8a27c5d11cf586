using MailServer.Protocols.Admission;
using MailServer.Rules.Sending;
using System.Globalization;
using System.Net;
using SmtpServer;
using SmtpServer.Mail;
using SmtpServer.Protocol;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// Builds SmtpServer's command objects. Differences from SmtpServer's own factory:
/// EHLO advertises exactly our extension list; MAIL's SIZE parameter is checked here (as a 64-bit number,
/// SmtpServer parses it as int and lets an overflowing value through as 0), and so are RET and ENVID (RFC 3461);
/// PROXY is never accepted from a client (it would let anyone claim any source address); DATA is deferred with 452 4.3.1
/// while the server-wide budget of message bytes held in memory is used up.
/// Throwing <see cref="SmtpResponseException"/> here makes SmtpServer answer with that reply.
/// </summary>
internal sealed class ListenerCommandFactory(SmtpListenerOptions options, bool authenticationOffered,
    BytesInFlight? bytesInFlight = null, Microsoft.Extensions.Logging.ILogger? logger = null) : ISmtpCommandFactory
{
    public SmtpCommand CreateHelo(string domainOrAddress) => new HeloCommand(domainOrAddress);

    public SmtpCommand CreateEhlo(string domainOrAddress) => new ListenerEhloCommand(domainOrAddress, options, authenticationOffered);

    public SmtpCommand CreateMail(IMailbox address, IReadOnlyDictionary<string, string> parameters)
    {
        // RFC 1870 §6.1: a declared SIZE over our fixed maximum is refused at MAIL with 552 5.3.4.
        if (parameters.TryGetValue("SIZE", out var size))
        {
            if (!long.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out var declared))
                throw new SmtpResponseException(SmtpReplies.BadSizeParameter);
            if (declared > options.Limits.MaxMessageBytes)
                throw new SmtpResponseException(SmtpReplies.MessageTooBig);
        }
        // RFC 3461 §4.3 and §4.4: RET is FULL or HDRS; ENVID is xtext.
        if (parameters.TryGetValue("RET", out var ret) && DsnParameters.ParseReturn(ret) is null)
            throw new SmtpResponseException(SmtpReplies.BadDsnParameter);
        if (parameters.TryGetValue("ENVID", out var envid) && (envid.Length > 100 || RcptParameterParser.DecodeXtext(envid) is null))
            throw new SmtpResponseException(SmtpReplies.BadDsnParameter);
        // RFC 8689 §2: REQUIRETLS has no value. Whether the session is under TLS is checked by EnvelopeFilter, which sees it.
        if (RequireTls.Requested(parameters) && RequireTls.Value(parameters) is { Length: > 0 })
            throw new SmtpResponseException(SmtpReplies.BadRequireTlsParameter);
        return new MailCommand(address, parameters);
    }

    public SmtpCommand CreateRcpt(IMailbox address) => new RcptCommand(address);
    public SmtpCommand CreateData()
    {
        // Admission by bytes: while the messages held in memory server-wide (being processed, or IMAP literals) fill
        // Limits.MaxBytesInFlightMiB, a new DATA is deferred before its 354 (RFC 5321 §4.3.2 lists 452 for DATA): its
        // section would be spooled only to wait for room at its end (DataReceiver), so the sender keeps it and retries
        // later instead of sending it now. An admitted DATA section is never cut off for the budget.
        if (bytesInFlight is { IsExhausted: true })
        {
            if (logger is not null)
                logger.DataDeferredOverBudget(bytesInFlight.InFlight, bytesInFlight.Budget);
            throw new SmtpResponseException(SmtpReplies.BytesInFlightExhausted);
        }
        return new DataCommand();
    }
    public SmtpCommand CreateQuit() => new QuitCommand();
    public SmtpCommand CreateNoop() => new NoopCommand();
    public SmtpCommand CreateRset() => new RsetCommand();
    public SmtpCommand CreateStartTls() => new StartTlsCommand();

    // RFC 4954: PLAIN and LOGIN, checked by UserAuthenticator (which refuses it on the MX listener). Without a
    // credential validator AUTH is refused here, so SmtpServer's default authenticator (which accepts any
    // credentials) can never run.
    public SmtpCommand CreateAuth(AuthenticationMethod method, string parameter) =>
        authenticationOffered && method is AuthenticationMethod.Plain or AuthenticationMethod.Login
            ? new AuthCommand(method, parameter)
            : throw new SmtpResponseException(SmtpReplies.CommandNotAvailable);

    public SmtpCommand CreateProxy(IPEndPoint sourceEndpoint, IPEndPoint destinationEndpoint) =>
        throw new SmtpResponseException(SmtpReplies.CommandNotAvailable);
}

/// <summary>EHLO with our greeting text and extension list (RFC 5321 §4.1.1.1).</summary>
internal sealed class ListenerEhloCommand(string domainOrAddress, SmtpListenerOptions options, bool authenticationOffered) : EhloCommand(domainOrAddress)
{
    protected override string GetGreeting(ISessionContext context) => $"{options.ServerName} Hello {DomainOrAddress}";

    protected override IEnumerable<string> GetExtensions(ISessionContext context)
    {
        yield return "PIPELINING";                                   // RFC 2920
        yield return $"SIZE {options.Limits.MaxMessageBytes}";       // RFC 1870
        yield return "8BITMIME";                                      // RFC 6152
        yield return "ENHANCEDSTATUSCODES";                           // RFC 2034
        yield return "SMTPUTF8";                                      // RFC 6531
        yield return "DSN";                                           // RFC 3461
        if (!context.Pipe.IsSecure)
            yield return "STARTTLS";                                  // RFC 3207
        else
            yield return "REQUIRETLS";                                // RFC 8689 §2: only where MAIL may use it, under TLS
        // RFC 4954 §4 and docs/decisions.md, "Listeners and TLS": AUTH only on submission, and only over TLS unless the admin allows plaintext.
        var session = SmtpSessionState.Of(context);
        if (session.Kind != SmtpListenerKind.Mx && session.User is null && (context.Pipe.IsSecure || options.AllowPlaintextAuth)
            && authenticationOffered)
            yield return "AUTH PLAIN LOGIN";
    }
}

/// <summary>RFC 8689 §2: the REQUIRETLS parameter of MAIL (a keyword without a value).</summary>
internal static class RequireTls
{
    /// <summary>True when MAIL carried REQUIRETLS (keywords are case-insensitive, RFC 5321 §2.4).</summary>
    public static bool Requested(IReadOnlyDictionary<string, string> parameters) =>
        parameters.Keys.Any(k => k.Equals("REQUIRETLS", StringComparison.OrdinalIgnoreCase));

    /// <summary>The value given with it, if any (there must be none).</summary>
    public static string? Value(IReadOnlyDictionary<string, string> parameters) =>
        parameters.FirstOrDefault(p => p.Key.Equals("REQUIRETLS", StringComparison.OrdinalIgnoreCase)).Value;
}

/// <summary>RFC 3461 MAIL parameters as the transaction keeps them.</summary>
internal static class DsnParameters
{
    /// <summary>RET=FULL or RET=HDRS; null when the value is neither.</summary>
    public static DsnReturn? ParseReturn(string value) => value.ToUpperInvariant() switch
    {
        "FULL" => DsnReturn.Full,
        "HDRS" => DsnReturn.Headers,
        _ => null,
    };
}
