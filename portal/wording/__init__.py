"""Words as the pages and e-mails write them, shared by the web layer and the e-mail
adapter: templates compiled in one language, US dollars in a locale."""
