using System.Globalization;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace MailServer.Server.ClientSetup;

/// <summary>
/// Outlook's Autodiscover in its plain-old-XML form ([MS-OXDSCLI]: a POST of an Autodiscover request naming the
/// address and the response schema the client accepts, answered with an Account of IMAP and SMTP Protocol
/// settings) and the JSON v2 form that tells Outlook where the POX endpoint is. Errors travel in the document with
/// HTTP 200, as Exchange does, so Outlook moves on to its next method.
/// </summary>
public static class OutlookAutodiscover
{
    /// <summary>The request namespace of the Outlook provider.</summary>
    public const string RequestNamespace = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006";

    /// <summary>The outer response namespace.</summary>
    public const string ResponseNamespace = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";

    /// <summary>The Outlook provider's response namespace (the only AcceptableResponseSchema served).</summary>
    public const string OutlookResponseNamespace = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

    /// <summary>The media type of POX answers.</summary>
    public const string ContentType = "text/xml; charset=utf-8";

    /// <summary>The largest request body read (a request is a few hundred bytes).</summary>
    public const int MaxRequestBytes = 64 * 1024;

    /// <summary>The only protocol of the JSON form this server answers.</summary>
    public const string JsonProtocol = "AutodiscoverV1";

    /// <summary>A parsed POX request: the address and the schema the client accepts.</summary>
    public sealed record Request(string EmailAddress, string AcceptableResponseSchema);

    /// <summary>Parses a POX request; null when it is not well-formed XML or lacks EMailAddress.</summary>
    public static Request? ParseRequest(Stream body)
    {
        ArgumentNullException.ThrowIfNull(body);
        try
        {
            // No DTD, no external entities: the body comes from anyone on the Internet.
            using var reader = XmlReader.Create(body, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, XmlResolver = null });
            var doc = XDocument.Load(reader);
            XNamespace ns = RequestNamespace;
            var request = doc.Root?.Element(ns + "Request");
            var email = request?.Element(ns + "EMailAddress")?.Value.Trim();
            var schema = request?.Element(ns + "AcceptableResponseSchema")?.Value.Trim() ?? OutlookResponseNamespace;
            return string.IsNullOrEmpty(email) ? null : new Request(email, schema);
        }
        catch (XmlException)
        {
            return null;
        }
    }

    /// <summary>The settings answer for <paramref name="emailAddress"/>: IMAP over implicit TLS and SMTP submission over implicit TLS.</summary>
    public static string Settings(string emailAddress, string displayName, ClientEndpoints endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        XNamespace outer = ResponseNamespace;
        XNamespace ns = OutlookResponseNamespace;
        var response = new XElement(ns + "Response",
            new XElement(ns + "User",
                new XElement(ns + "DisplayName", displayName),
                new XElement(ns + "AutoDiscoverSMTPAddress", emailAddress)),
            new XElement(ns + "Account",
                new XElement(ns + "AccountType", "email"),
                new XElement(ns + "Action", "settings"),
                Protocol(ns, "IMAP", endpoints.Host, endpoints.Imaps, emailAddress),
                Protocol(ns, "SMTP", endpoints.Host, endpoints.Submissions, emailAddress,
                    // The SMTP login is the same as the IMAP one.
                    new XElement(ns + "UsePOPAuth", "on"),
                    new XElement(ns + "SMTPLast", "off"))));
        return Serialize(new XElement(outer + "Autodiscover", response));
    }

    /// <summary>
    /// An error answer: 500 "the address is not served here", 600 "invalid request", 601 "the requested response
    /// schema is not available" ([MS-OXDSCLI] error codes).
    /// </summary>
    public static string Error(int code, string message, DateTimeOffset now)
    {
        XNamespace outer = ResponseNamespace;
        var error = new XElement(outer + "Error",
            new XAttribute("Time", now.UtcDateTime.ToString("HH:mm:ss.fffffff", CultureInfo.InvariantCulture)),
            new XAttribute("Id", "0"),
            new XElement(outer + "ErrorCode", code.ToString(CultureInfo.InvariantCulture)),
            new XElement(outer + "Message", message),
            new XElement(outer + "DebugData"));
        return Serialize(new XElement(outer + "Autodiscover", new XElement(outer + "Response", error)));
    }

    private static XElement Protocol(XNamespace ns, string type, string host, int port, string login, params XElement[] extra) =>
        new(ns + "Protocol",
            new XElement(ns + "Type", type),
            new XElement(ns + "Server", host),
            new XElement(ns + "Port", port.ToString(CultureInfo.InvariantCulture)),
            new XElement(ns + "DomainRequired", "off"),
            new XElement(ns + "LoginName", login),
            new XElement(ns + "SPA", "off"),
            // Implicit TLS on these ports (RFC 8314); "Encryption" names it explicitly for newer Outlooks.
            new XElement(ns + "SSL", "on"),
            new XElement(ns + "Encryption", "SSL"),
            new XElement(ns + "AuthRequired", "on"),
            extra);

    private static string Serialize(XElement root)
    {
        var sb = new StringBuilder();
        using (var w = XmlWriter.Create(sb, new XmlWriterSettings { Indent = true, OmitXmlDeclaration = true }))
            root.WriteTo(w);
        return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n" + sb + "\n";
    }
}
