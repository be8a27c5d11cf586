using MailServer.Protocols.Authentication;
using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>LOGIN (RFC 9051 §6.2.3), and the login step shared with AUTHENTICATE.</summary>
internal static class LoginHandler
{
    public static Task<ImapCompletion> RunAsync(LoginCommand command, ImapSession session, CancellationToken cancellationToken) =>
        LogInAsync(session, command.UserName, command.Password, cancellationToken);

    /// <summary>Refuses login before TLS unless plain text is allowed (LOGINDISABLED).</summary>
    /// <exception cref="ImapRefusedException">Plain-text login is not allowed.</exception>
    public static void RequirePrivacy(ImapSession session)
    {
        if (!session.LoginAllowed)
            throw new ImapRefusedException(ResponseCode.PrivacyRequired, "Use STARTTLS before logging in");
    }

    /// <summary>Checks the credentials and moves the session to the authenticated state.</summary>
    /// <exception cref="ImapRefusedException">The login failed, with the RFC 5530 code naming why.</exception>
    public static async Task<ImapCompletion> LogInAsync(ImapSession session, string userName, string password, CancellationToken cancellationToken)
    {
        RequirePrivacy(session);
        var result = await session.Credentials.ValidateAsync(userName, password, session.Remote.Address, LoginProtocol.Imap, cancellationToken);
        if (result is LoginResult.Success success)
        {
            var mailbox = await session.Store.EnsureMailboxAsync(success.User.OrganizationId, success.User.Email, cancellationToken);
            session.State = new ImapSessionState.Authenticated(new ImapAccount(success.User, mailbox));
            session.Logger.LoginSucceeded(success.User.Email);
            return new ImapCompletion(new ResponseCode.Capabilities(ValueList.Of([.. CapabilityHandler.Capabilities(session)])),
                "Logged in");
        }

        var failed = session.State is ImapSessionState.NotAuthenticated n ? n.FailedLogins + 1 : 1;
        session.State = new ImapSessionState.NotAuthenticated(failed);
        session.Logger.LoginFailed(userName, result.GetType().Name);
        if (failed >= session.Options.Limits.MaxFailedLoginsPerConnection)
        {
            session.Writer.Untagged(ImapStatus.Bye, null, "Too many failed logins");
            session.CloseAfterReply();
        }
        throw result switch
        {
            LoginResult.Throttled => new ImapRefusedException(ResponseCode.Unavailable, "Too many failed logins; try again later"),
            LoginResult.Disabled => new ImapRefusedException(ResponseCode.ContactAdmin, "The account is disabled"),
            LoginResult.Denied => new ImapRefusedException(ResponseCode.AuthorizationFailed, "Login not allowed from here"),
            _ => new ImapRefusedException(ResponseCode.AuthenticationFailed, "Authentication failed"),
        };
    }
}
