using System.Globalization;
using System.Net;
using SmtpServer;
using SmtpServer.Mail;
using SmtpServer.Protocol;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// Builds SmtpServer's command objects. Differences from SmtpServer's own factory:
/// EHLO advertises exactly our extension list; MAIL's SIZE parameter is checked here (as a 64-bit number,
/// SmtpServer parses it as int and lets an overflowing value through as 0); AUTH is not offered yet and
/// PROXY is never accepted from a client (it would let anyone claim any source address).
/// Throwing <see cref="SmtpResponseException"/> here makes SmtpServer answer with that reply.
/// </summary>
internal sealed class ListenerCommandFactory(SmtpListenerOptions options) : ISmtpCommandFactory
{
    public SmtpCommand CreateHelo(string domainOrAddress) => new HeloCommand(domainOrAddress);

    public SmtpCommand CreateEhlo(string domainOrAddress) => new ListenerEhloCommand(domainOrAddress, options);

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
        return new MailCommand(address, parameters);
    }

    public SmtpCommand CreateRcpt(IMailbox address) => new RcptCommand(address);
    public SmtpCommand CreateData() => new DataCommand();
    public SmtpCommand CreateQuit() => new QuitCommand();
    public SmtpCommand CreateNoop() => new NoopCommand();
    public SmtpCommand CreateRset() => new RsetCommand();
    public SmtpCommand CreateStartTls() => new StartTlsCommand();

    // AUTH arrives with the submission issue; until then it is not advertised and refused here, so
    // SmtpServer's default authenticator (which accepts any credentials) can never run.
    public SmtpCommand CreateAuth(AuthenticationMethod method, string parameter) =>
        throw new SmtpResponseException(SmtpReplies.CommandNotAvailable);

    public SmtpCommand CreateProxy(IPEndPoint sourceEndpoint, IPEndPoint destinationEndpoint) =>
        throw new SmtpResponseException(SmtpReplies.CommandNotAvailable);
}

/// <summary>EHLO with our greeting text and extension list (RFC 5321 §4.1.1.1).</summary>
internal sealed class ListenerEhloCommand(string domainOrAddress, SmtpListenerOptions options) : EhloCommand(domainOrAddress)
{
    protected override string GetGreeting(ISessionContext context) => $"{options.ServerName} Hello {DomainOrAddress}";

    protected override IEnumerable<string> GetExtensions(ISessionContext context)
    {
        yield return "PIPELINING";                                   // RFC 2920
        yield return $"SIZE {options.Limits.MaxMessageBytes}";       // RFC 1870
        yield return "8BITMIME";                                      // RFC 6152
        yield return "ENHANCEDSTATUSCODES";                           // RFC 2034
        if (!context.Pipe.IsSecure)
            yield return "STARTTLS";                                  // RFC 3207
    }
}
