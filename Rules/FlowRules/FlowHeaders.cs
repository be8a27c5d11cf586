using MimeKit;

namespace MailServer.Rules.FlowRules;

/// <summary>
/// The header addresses flow rules match (§9.5: the Sender and From headers, not MAIL FROM), read with strict
/// address parsing (docs/dependencies.md, "MimeKit": lenient parsing can smuggle a second address).
/// </summary>
public static class FlowHeaders
{
    private static readonly ParserOptions Strict = CreateStrict();

    private static ParserOptions CreateStrict()
    {
        var o = ParserOptions.Default.Clone();
        o.AddressParserComplianceMode = RfcComplianceMode.Strict;
        o.AllowAddressesWithoutDomain = false;
        o.AllowUnquotedCommasInAddresses = false;
        return o;
    }

    /// <summary>The address of the first Sender header, or null when absent or unparseable.</summary>
    public static string? SenderAddress(HeaderList headers) => FirstAddress(headers, HeaderId.Sender);

    /// <summary>The first address of the first From header, or null when absent or unparseable.</summary>
    public static string? FromAddress(HeaderList headers) => FirstAddress(headers, HeaderId.From);

    /// <summary>The flow rule input for a message: its header addresses, the envelope sender and the recipients to decide.</summary>
    public static FlowMessage ToFlowMessage(HeaderList headers, string? envelopeSender, IReadOnlyList<string> recipients) =>
        new(envelopeSender, SenderAddress(headers), FromAddress(headers), recipients);

    private static string? FirstAddress(HeaderList headers, HeaderId id)
    {
        var index = headers.IndexOf(id);
        if (index < 0)
            return null;
        var raw = headers[index].RawValue;
        if (!InternetAddressList.TryParse(Strict, raw, 0, raw.Length, out var list))
            return null;
        return list.Mailboxes.FirstOrDefault()?.Address is { Length: > 0 } a ? a.ToLowerInvariant() : null;
    }
}
