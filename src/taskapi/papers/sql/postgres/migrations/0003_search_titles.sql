-- The titles' words on their own (the weight A part of each vector), so that a broad query finds the
-- papers whose title matches without reading every match (the search's bounded candidates).
CREATE INDEX paper_search_titles ON paper_search USING gin (ts_filter(document, '{a}'));
