using MailServer.Protocols.Smtp;
using MailServer.Server.Configuration;

namespace MailServer.Server.Delivery;

/// <summary>
/// The routing seam for outbound mail: per remote recipient, "route via SMTP gateway NAME" or direct MX delivery.
/// The decision is carried on the queued recipient (<see cref="Storage.QueuedRecipient.Gateway"/>). Outbound flow
/// rules (RouteToSmtpGateway, §9.3) plug in here by implementing this interface.
/// </summary>
public interface IOutboundRouter
{
    /// <summary>The gateway name for <paramref name="recipient"/>, or null for direct delivery.</summary>
    string? GatewayFor(SmtpTransaction transaction, OrganizationConfig organization, AcceptedRecipient recipient);
}

/// <summary>The organization's DefaultSmtpGateway (its smart host) for every remote recipient, or direct delivery.</summary>
public sealed class DefaultGatewayRouter : IOutboundRouter
{
    /// <inheritdoc />
    public string? GatewayFor(SmtpTransaction transaction, OrganizationConfig organization, AcceptedRecipient recipient) =>
        organization.DefaultSmtpGateway;
}
