using MimeKit;

namespace MailServer.Rules.Sending;

/// <summary>The From and Sender addresses of a submitted message, parsed strictly. Display names are dropped: never trusted.</summary>
/// <param name="From">The one From address.</param>
/// <param name="Sender">The Sender address, or null when there is no Sender field.</param>
public sealed record SubmittedHeaders(string From, string? Sender)
{
    /// <summary>
    /// Strict parsing (docs/dependencies.md, "MimeKit": lenient options let a folded header smuggle a second
    /// address, and unquoted commas or domain-less addresses pass). Anything that authorises uses these.
    /// </summary>
    private static readonly ParserOptions Strict = CreateStrict();

    /// <summary>
    /// Parses From and Sender out of a header section (bytes up to the blank line). RFC 5322 §3.6: exactly one
    /// From field, at most one Sender field. We also require exactly one mailbox in From (§3.6.2 would allow
    /// several with a Sender; a submission naming several authors is refused rather than half-checked).
    /// </summary>
    /// <returns>The addresses, or null with <paramref name="problem"/> set when the headers cannot be trusted.</returns>
    public static SubmittedHeaders? TryParse(ReadOnlySpan<byte> headerSection, out string problem)
    {
        HeaderList headers;
        try
        {
            using var stream = new MemoryStream(headerSection.ToArray(), writable: false);
            headers = HeaderList.Load(Strict, stream);
        }
        catch (FormatException)
        {
            problem = "the header section could not be parsed";
            return null;
        }

        var froms = headers.Where(h => h.Id == HeaderId.From).ToList();
        var senders = headers.Where(h => h.Id == HeaderId.Sender).ToList();
        if (froms.Count != 1)
        {
            problem = froms.Count == 0 ? "the message has no From header" : "the message has more than one From header";
            return null;
        }
        if (senders.Count > 1)
        {
            problem = "the message has more than one Sender header";
            return null;
        }
        if (SingleAddress(froms[0]) is not { } from)
        {
            problem = "the From header must hold exactly one valid address";
            return null;
        }
        string? sender = null;
        if (senders.Count == 1 && (sender = SingleAddress(senders[0])) is null)
        {
            problem = "the Sender header must hold exactly one valid address";
            return null;
        }
        problem = "";
        return new SubmittedHeaders(from, sender);
    }

    private static string? SingleAddress(Header header)
    {
        if (!InternetAddressList.TryParse(Strict, header.RawValue, out var list) || list.Count != 1
            || list[0] is not MailboxAddress mailbox || string.IsNullOrEmpty(mailbox.Domain) || mailbox.Route.Count > 0)
            return null;
        var address = mailbox.Address;
        // One line of printable text: a CR, LF or control character cannot hide a second address behind it.
        return address.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)) ? null : address.ToLowerInvariant();
    }

    private static ParserOptions CreateStrict()
    {
        var options = ParserOptions.Default.Clone();
        options.AddressParserComplianceMode = RfcComplianceMode.Strict;
        options.AllowAddressesWithoutDomain = false;
        options.AllowUnquotedCommasInAddresses = false;
        options.MaxAddressGroupDepth = 0;
        return options;
    }
}
