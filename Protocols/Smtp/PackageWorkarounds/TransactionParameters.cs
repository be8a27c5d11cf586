using System.Reflection;
using SmtpServer;
using SmtpServer.Mail;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// SmtpServer 11.1.0 sets the MAIL parameters on the session's transaction before it asks the mailbox filter, but its
/// public <see cref="ISessionContext"/> does not expose the transaction (only the internal session context class
/// does), and the filter's signature carries no parameters. REQUIRETLS must be refused at MAIL outside TLS (RFC 8689
/// §4.1), which only the filter can do with the session at hand, so the transaction is read through that property.
/// When the package changes shape this returns null; <see cref="DataReceiver"/> then still refuses the message at the
/// end of DATA, so a REQUIRETLS message is never taken without TLS.
/// </summary>
internal static class TransactionParameters
{
    private static readonly Dictionary<Type, PropertyInfo?> Properties = [];

    /// <summary>The MAIL parameters of the current transaction, or null when the package does not let us see them.</summary>
    public static IReadOnlyDictionary<string, string>? Of(ISessionContext context)
    {
        var type = context.GetType();
        PropertyInfo? property;
        lock (Properties)
        {
            if (!Properties.TryGetValue(type, out property))
                Properties[type] = property = type.GetProperty("Transaction", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic);
        }
        return (property?.GetValue(context) as IMessageTransaction)?.Parameters;
    }
}
