-- PostgreSQL's 0003 indexes the titles' words on their own for the search's bounded candidates; FTS5
-- filters a match by column itself ("{title} : ..."), so SQLite needs nothing: this keeps the two
-- dialects' migrations numbered alike.
SELECT 1;
