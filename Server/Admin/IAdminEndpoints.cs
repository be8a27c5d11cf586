using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace MailServer.Server.Admin;

/// <summary>
/// One area's routes on the admin HTTP listener (queue, events, metrics, message flow, ...). Register an
/// implementation as a singleton of this interface in the composition root; the admin listener maps them all.
/// Handlers take what they need from the implementation's constructor (the server's own services).
/// </summary>
public interface IAdminEndpoints
{
    /// <summary>Adds this area's routes. Administrative routes go under <c>/admin/</c> with <see cref="AdminEndpointExtensions.RequireAdminToken{TBuilder}"/>.</summary>
    void Map(IEndpointRouteBuilder endpoints);
}

/// <summary>Route conventions of the admin listener.</summary>
public static class AdminEndpointExtensions
{
    /// <summary>
    /// Requires <c>Authorization: Bearer &lt;admin token&gt;</c> (<see cref="AdminToken"/>) on every route of
    /// <paramref name="builder"/>; anything else gets 401 with a <c>WWW-Authenticate: Bearer</c> challenge.
    /// </summary>
    public static TBuilder RequireAdminToken<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var token = context.HttpContext.RequestServices.GetRequiredService<AdminToken>();
            if (token.Matches(context.HttpContext.Request.Headers.Authorization))
                return await next(context);
            context.HttpContext.Response.Headers.WWWAuthenticate = "Bearer realm=\"mailserver-admin\"";
            return Results.Json(new { error = "a valid admin token is required (Authorization: Bearer <data/admin.token>)" },
                statusCode: StatusCodes.Status401Unauthorized);
        });
}
