"""The web dashboard: routes (served by the REST app on the same port), the bounded server-push
hub (Server-Sent Events fed by the event bus) and the static page (plain HTML, CSS and JavaScript,
no build step, no CDN)."""
