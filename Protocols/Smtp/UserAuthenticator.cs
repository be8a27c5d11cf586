using MailServer.Protocols.Authentication;
using Microsoft.Extensions.Logging;
using SmtpServer;
using SmtpServer.Authentication;
using SmtpServer.Protocol;

namespace MailServer.Protocols.Smtp;

/// <summary>
/// SMTP AUTH PLAIN / LOGIN (RFC 4954) through the one <see cref="ICredentialValidator"/> (address or alias,
/// throttled after failures). SmtpServer decodes the SASL exchange and offers AUTH only after TLS unless the
/// endpoint allows plaintext authentication (RFC 4954 §4: no credentials in the clear). The MX listener never
/// authenticates: AUTH there is refused before the credentials are looked at.
/// Stateless and not IDisposable (SmtpServer disposes what it is handed).
/// </summary>
internal sealed class UserAuthenticator(ICredentialValidator credentials, ILogger logger) : IUserAuthenticator, IUserAuthenticatorFactory
{
    public IUserAuthenticator CreateInstance(ISessionContext context) => this;

    public async Task<bool> AuthenticateAsync(ISessionContext context, string user, string password, CancellationToken cancellationToken)
    {
        var session = SmtpSessionState.Of(context);
        if (session.Kind == SmtpListenerKind.Mx)
            throw new SmtpResponseException(SmtpReplies.CommandNotAvailable);
        var result = await credentials.ValidateAsync(user ?? "", password ?? "", session.RemoteEndPoint.Address, LoginProtocol.Smtp, cancellationToken).ConfigureAwait(false);
        switch (result)
        {
            case LoginResult.Success success:
                session.User = success.User;
                logger.AuthSucceeded(success.User.Email);
                return true;
            case LoginResult.Throttled throttled:
                logger.AuthFailed(user ?? "", "throttled");
                throw new SmtpResponseException(SmtpReplies.AuthThrottled);
            case LoginResult.Denied:
                logger.AuthFailed(user ?? "", "denied by an access control rule");
                throw new SmtpResponseException(SmtpReplies.AuthDenied);
            case LoginResult.Disabled:
                logger.AuthFailed(user ?? "", "user disabled");
                return false;
            default:
                logger.AuthFailed(user ?? "", "invalid credentials");
                return false;
        }
    }
}
