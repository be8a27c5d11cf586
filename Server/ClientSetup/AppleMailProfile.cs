using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Xml;

namespace MailServer.Server.ClientSetup;

/// <summary>
/// An Apple configuration profile (<c>.mobileconfig</c>, a property list with one <c>com.apple.mail.managed</c>
/// payload) that sets up Mail on iOS, iPadOS and macOS for one user: IMAP over implicit TLS and submission over
/// implicit TLS, the whole address as the user name. The password is not in the profile: the device asks for it
/// on install. The payload UUIDs derive from the server and the address, so installing the profile again
/// replaces the account instead of adding a second one.
/// </summary>
public static class AppleMailProfile
{
    /// <summary>The media type iOS and macOS open as a profile.</summary>
    public const string ContentType = "application/x-apple-aspen-config";

    /// <summary>The profile of <paramref name="emailAddress"/>.</summary>
    public static string Build(string emailAddress, string displayName, ClientEndpoints endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        var identifier = string.Join('.', endpoints.Host.Split('.').Reverse()) + ".mailserver";
        var sb = new StringBuilder();
        using (var w = XmlWriter.Create(sb, new XmlWriterSettings { Indent = true, OmitXmlDeclaration = true }))
        {
            w.WriteDocType("plist", "-//Apple//DTD PLIST 1.0//EN", "http://www.apple.com/DTDs/PropertyList-1.0.dtd", null);
            w.WriteStartElement("plist");
            w.WriteAttributeString("version", "1.0");
            w.WriteStartElement("dict");
            Key(w, "PayloadContent");
            w.WriteStartElement("array");
            w.WriteStartElement("dict");
            String(w, "EmailAccountDescription", emailAddress);
            String(w, "EmailAccountName", displayName);
            String(w, "EmailAccountType", "EmailTypeIMAP");
            String(w, "EmailAddress", emailAddress);
            String(w, "IncomingMailServerAuthentication", "EmailAuthPassword");
            String(w, "IncomingMailServerHostName", endpoints.Host);
            Integer(w, "IncomingMailServerPortNumber", endpoints.Imaps);
            Bool(w, "IncomingMailServerUseSSL", true);
            String(w, "IncomingMailServerUsername", emailAddress);
            String(w, "OutgoingMailServerAuthentication", "EmailAuthPassword");
            String(w, "OutgoingMailServerHostName", endpoints.Host);
            Integer(w, "OutgoingMailServerPortNumber", endpoints.Submissions);
            Bool(w, "OutgoingMailServerUseSSL", true);
            String(w, "OutgoingMailServerUsername", emailAddress);
            Bool(w, "OutgoingPasswordSameAsIncomingPassword", true);
            String(w, "PayloadDescription", $"Mail account {emailAddress}");
            String(w, "PayloadDisplayName", emailAddress);
            String(w, "PayloadIdentifier", $"{identifier}.mail.{emailAddress}");
            String(w, "PayloadType", "com.apple.mail.managed");
            String(w, "PayloadUUID", StableUuid(endpoints.Host, emailAddress, "mail"));
            Integer(w, "PayloadVersion", 1);
            w.WriteEndElement();
            w.WriteEndElement();
            String(w, "PayloadDescription", $"Sets up Mail for {emailAddress} on {endpoints.Host}");
            String(w, "PayloadDisplayName", $"Mail ({emailAddress})");
            String(w, "PayloadIdentifier", $"{identifier}.{emailAddress}");
            Bool(w, "PayloadRemovalDisallowed", false);
            String(w, "PayloadType", "Configuration");
            String(w, "PayloadUUID", StableUuid(endpoints.Host, emailAddress, "profile"));
            Integer(w, "PayloadVersion", 1);
            w.WriteEndElement();
            w.WriteEndElement();
        }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + sb + "\n";
    }

    /// <summary>A UUID made from a hash of the inputs (version 8, RFC 9562 §5.8).</summary>
    internal static string StableUuid(params string[] parts)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n', parts)));
        hash[6] = (byte)((hash[6] & 0x0F) | 0x80);
        hash[8] = (byte)((hash[8] & 0x3F) | 0x80);
        return new Guid(hash.AsSpan(0, 16), bigEndian: true).ToString("D").ToUpperInvariant();
    }

    private static void Key(XmlWriter w, string key) => w.WriteElementString("key", key);

    private static void String(XmlWriter w, string key, string value)
    {
        Key(w, key);
        w.WriteElementString("string", value);
    }

    private static void Integer(XmlWriter w, string key, int value)
    {
        Key(w, key);
        w.WriteElementString("integer", value.ToString(CultureInfo.InvariantCulture));
    }

    private static void Bool(XmlWriter w, string key, bool value)
    {
        Key(w, key);
        w.WriteStartElement(value ? "true" : "false");
        w.WriteEndElement();
    }
}
