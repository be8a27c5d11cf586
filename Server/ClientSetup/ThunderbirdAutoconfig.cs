using System.Text;
using System.Xml;

namespace MailServer.Server.ClientSetup;

/// <summary>
/// Thunderbird's autoconfiguration file (the clientConfig version 1.1 format that Thunderbird fetches from
/// <c>autoconfig.DOMAIN/mail/config-v1.1.xml</c> and <c>DOMAIN/.well-known/autoconfig/mail/config-v1.1.xml</c>;
/// also read by K-9/Thunderbird for Android, Evolution and KMail). Implicit TLS is listed first, STARTTLS second;
/// plaintext is never offered. The user name is the whole address (Thunderbird's <c>%EMAILADDRESS%</c>
/// placeholder), which is what this server's LOGIN and AUTH accept.
/// </summary>
public static class ThunderbirdAutoconfig
{
    /// <summary>The placeholder Thunderbird replaces with the address the user typed.</summary>
    public const string EmailAddressPlaceholder = "%EMAILADDRESS%";

    /// <summary>The media type of the answer.</summary>
    public const string ContentType = "application/xml; charset=utf-8";

    /// <summary>The XML document for <paramref name="domain"/>.</summary>
    /// <param name="domain">The mail domain the client asked about (emailProvider id and domain).</param>
    /// <param name="displayName">A name for the provider shown in the client's account wizard.</param>
    /// <param name="endpoints">Host and ports.</param>
    public static string Build(string domain, string displayName, ClientEndpoints endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var sb = new StringBuilder();
        using (var w = XmlWriter.Create(sb, new XmlWriterSettings { Indent = true, Encoding = Encoding.UTF8, OmitXmlDeclaration = true }))
        {
            w.WriteStartElement("clientConfig");
            w.WriteAttributeString("version", "1.1");
            w.WriteStartElement("emailProvider");
            w.WriteAttributeString("id", domain);
            w.WriteElementString("domain", domain);
            w.WriteElementString("displayName", displayName);
            w.WriteElementString("displayShortName", domain);
            Server(w, "incomingServer", "imap", endpoints.Host, endpoints.Imaps, "SSL");
            Server(w, "incomingServer", "imap", endpoints.Host, endpoints.Imap, "STARTTLS");
            Server(w, "outgoingServer", "smtp", endpoints.Host, endpoints.Submissions, "SSL");
            Server(w, "outgoingServer", "smtp", endpoints.Host, endpoints.Submission, "STARTTLS");
            w.WriteEndElement();
            w.WriteEndElement();
        }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + sb + "\n";
    }

    private static void Server(XmlWriter w, string element, string type, string host, int port, string socketType)
    {
        w.WriteStartElement(element);
        w.WriteAttributeString("type", type);
        w.WriteElementString("hostname", host);
        w.WriteElementString("port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        w.WriteElementString("socketType", socketType);
        // The password goes over the TLS channel only: the server refuses AUTH/LOGIN before TLS.
        w.WriteElementString("authentication", "password-cleartext");
        w.WriteElementString("username", EmailAddressPlaceholder);
        w.WriteEndElement();
    }
}
