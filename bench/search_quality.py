"""Search quality, labelled: does a question find its meeting? Run by hand; prints recall@3 and MRR.

    .venv/bin/python bench/search_quality.py [--database postgresql://…/some_empty_db] [--fillers 300]

Generates a corpus: 40 meetings with a known subject each, among `--fillers` everyday meetings
(stand-ups, planning, status updates), stores them through `upsert_call` and enriches them with
the offline default (`enrich_call`: passages and the offline model's vectors), in a throwaway
SQLite file unless `--database` names an empty database. Then asks
- 30 paraphrased questions, each sharing no content word with its meeting (checked: no word of the
  question, stop words aside, appears in the meeting, not even as a prefix), and
- 10 questions that share words with their meeting,
and reports recall@3 (the meeting is in the top 3) and MRR (1 / its rank, 0 if absent) for full-text
alone (fulltext.Finder + rank), semantic alone (vectors.best_passages) and hybrid (results.search,
what the library, the API and MCP use). Goal: hybrid recall@3 >= 0.6 on the paraphrased questions,
and never worse than full-text alone on the word-sharing ones.
"""
import argparse
import logging
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.fernet import Fernet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SECRET_KEY", "bench")
os.environ.setdefault("CREDENTIALS_ENCRYPTION_KEY", Fernet.generate_key().decode())
for _name in ("DATABASE_URL", "REDIS_URL", "AI_API_BASE_URL", "AI_API_KEY", "AI_EMBEDDING_MODEL", "AI_CHAT_MODEL"):
    os.environ.pop(_name, None)

from sqlalchemy import select  # noqa: E402

from callvault import create_app  # noqa: E402
from callvault.accounts import create_user  # noqa: E402
from callvault.calls.queries import CallFilters  # noqa: E402
from callvault.calls.store import CallData, SegmentData, upsert_call  # noqa: E402
from callvault.config import normalize_database_url  # noqa: E402
from callvault.extensions import db  # noqa: E402
from callvault.models import Call  # noqa: E402
from callvault.search import embedders, enrichment, fulltext, providers, results, vectors  # noqa: E402
from callvault.search.schema import ensure_search_schema  # noqa: E402

# (title, lines): each meeting's subject is said in its own words.
MEETINGS = [
    ("Northwind renewal", ["Northwind asked for better terms before they renew.",
                           "We agreed to cut their subscription fee by ten percent.",
                           "Finance signed off on lowering the yearly invoice."]),
    ("Backend opening", ["We interviewed three engineers for the backend opening.",
                         "The second applicant wrote the cleanest code in the exercise.",
                         "Let's send her an offer letter by Friday."]),
    ("Postmortem", ["The database went down at two in the morning.",
                    "Pages took forty minutes to load again after the disk filled up.",
                    "We need better alerting for disk space."]),
    ("Relocation", ["We are relocating to the new building downtown in June.",
                    "Movers will pack the desks over the weekend.",
                    "Parking passes will be handed out at reception."]),
    ("Pen test results", ["The penetration testers found an exposed admin panel.",
                          "Passwords were stored without hashing in the legacy tool.",
                          "We must rotate every credential this week."]),
    ("Campaign kickoff", ["The advertising campaign goes live on Monday.",
                          "Billboards in three cities and posts on social media.",
                          "The paid promotion will cost fifty thousand dollars."]),
    ("Account losses", ["Several accounts cancelled after the redesign.",
                        "Users complained the dashboard got confusing.",
                        "Retention dropped by eight points."]),
    ("Time off policy", ["Everyone will get unlimited paid time off starting in January.",
                         "Managers must approve requests two weeks ahead."]),
    ("Data center exit", ["We are moving our servers from the data center to AWS.",
                          "The cutover happens over three weekends.",
                          "Latency should improve for users in Europe."]),
    ("Plan tiers", ["We will introduce a premium plan with priority support.",
                    "The basic plan stays free for small teams.",
                    "Premium should be priced at forty dollars a seat."]),
    ("Board update", ["The directors approved the annual budget.",
                      "Revenue grew thirty percent year over year."]),
    ("iOS crash", ["The iPhone app crashes when uploading photos.",
                   "A fix ships in version four point two."]),
    ("Offsite planning", ["We booked a lodge in the mountains for the retreat.",
                          "Activities include hiking and a cooking class."]),
    ("Reorganisation", ["Two departments will be merged into one.",
                        "Some roles are being eliminated and those affected get severance."]),
    ("Shenzhen factory", ["The factory in Shenzhen is behind schedule.",
                          "Shipments of the sensors will arrive six weeks late."]),
    ("GDPR", ["Regulators require us to delete personal records on request.",
              "Legal wants a data protection officer appointed."]),
    ("Buddy program", ["New hires get a buddy for their first month.",
                       "Laptops are shipped to their homes before day one."]),
    ("Review process", ["Feedback conversations happen twice a year now.",
                        "Ratings will no longer be tied to bonuses."]),
    ("Globex reseller", ["Globex wants to resell our software in Asia.",
                         "They would take a twenty percent commission on each licence."]),
    ("Series B", ["We closed the Series B round at forty million.",
                  "The lead investor joins the board next month."]),
    ("Homepage refresh", ["The homepage gets a cleaner layout and bigger photos.",
                          "Navigation menus shrink to five items."]),
    ("Service desk", ["The help desk has nine hundred open tickets.",
                      "Replies take four days on average."]),
    ("Warehouse bills", ["Electricity bills for the warehouse doubled this winter.",
                         "Solar panels could pay back in five years."]),
    ("Manual bot", ["We plan to ship a chatbot that answers questions from the manuals.",
                    "The language model runs on our own servers."]),
    ("Commission plan", ["Reps will earn twelve percent on new deals.",
                         "Quotas reset every quarter."]),
    ("Travel rules", ["Flights must be booked in economy unless they are over six hours.",
                      "Hotels are capped at two hundred a night."]),
    ("Checkout audit", ["Screen reader users cannot complete the checkout.",
                        "Buttons lack labels and the contrast is too low."]),
    ("Career fair", ["We will host a booth at the university career fair.",
                     "Students can sign up for summer internships."]),
    ("Stock count", ["The warehouse counted fewer pallets than the system shows.",
                     "Someone may be stealing inventory at night."]),
    ("Leadership mix", ["We want more women in engineering leadership.",
                        "Interview panels will include people from varied backgrounds."]),
    # Meetings whose questions share words with them.
    ("Kubernetes upgrade", ["We upgrade the Kubernetes cluster to version one thirty.",
                            "The Helm charts need new values first."]),
    ("Quarterly OKRs", ["Our OKRs for the quarter focus on activation.", "Each team owns one key result."]),
    ("Contoso invoice", ["Contoso disputes the March invoice.", "They say two seats were billed twice."]),
    ("Podcast", ["We are launching a company podcast about design.", "The first episode records next week."]),
    ("Kitchen", ["The espresso machine on floor three is broken.", "Facilities ordered a replacement."]),
    ("Hackathon", ["The hackathon winners built a Slack bot for expense reports.", "They get a trophy."]),
    ("Localisation", ["The translation vendor missed the Japanese deadline.", "We may switch vendors."]),
    ("Legal update", ["Our lawyers filed the patent for the battery design.", "Approval takes two years."]),
    ("Sustainability", ["We measured the carbon footprint of our offices.", "Flights are the biggest part."]),
    ("Events", ["Maria will give a keynote at the Berlin conference.", "Her slides are due in May."]),
]

PARAPHRASED = [  # (question, title of its meeting): no content word shared
    ("did we give a client a discount", "Northwind renewal"),
    ("which candidate are we hiring", "Backend opening"),
    ("what caused the production incident", "Postmortem"),
    ("when is the company changing offices", "Relocation"),
    ("security vulnerabilities discovered by hackers we hired", "Pen test results"),
    ("marketing spend on ads", "Campaign kickoff"),
    ("why are customers leaving", "Account losses"),
    ("holiday allowance for staff", "Time off policy"),
    ("migrating infrastructure to the cloud", "Data center exit"),
    ("a more expensive subscription package", "Plan tiers"),
    ("how fast did sales increase", "Board update"),
    ("mobile application keeps failing when adding pictures", "iOS crash"),
    ("company trip outdoors", "Offsite planning"),
    ("are people losing their jobs", "Reorganisation"),
    ("manufacturing supplier delays", "Shenzhen factory"),
    ("privacy compliance obligations", "GDPR"),
    ("welcoming recently joined employees", "Buddy program"),
    ("appraisal cycle and compensation", "Review process"),
    ("distributor selling our product overseas", "Globex reseller"),
    ("how much funding did we raise", "Series B"),
    ("website front page design", "Homepage refresh"),
    ("customer complaints queue backlog", "Service desk"),
    ("power costs rising", "Warehouse bills"),
    ("AI assistant feature", "Manual bot"),
    ("salespeople pay incentives", "Commission plan"),
    ("business trip expense limits", "Travel rules"),
    ("blind shoppers struggle to pay", "Checkout audit"),
    ("campus recruiting for graduates", "Career fair"),
    ("missing goods and theft", "Stock count"),
    ("gender diversity among technical managers", "Leadership mix"),
]
SHARED = [  # (question, title of its meeting): shares words with it
    ("kubernetes cluster upgrade", "Kubernetes upgrade"),
    ("OKRs activation", "Quarterly OKRs"),
    ("Contoso invoice", "Contoso invoice"),
    ("podcast launching", "Podcast"),
    ("espresso machine broken", "Kitchen"),
    ("hackathon winners", "Hackathon"),
    ("Japanese translation deadline", "Localisation"),
    ("battery patent", "Legal update"),
    ("carbon footprint", "Sustainability"),
    ("Berlin keynote", "Events"),
]
FILLER = [
    "Good morning everyone, thanks for joining.", "Let's go around the room for updates.",
    "I finished the tasks from last week.", "Nothing blocking me right now.", "Can you share your screen?",
    "Let's take that offline.", "I'll follow up by email.", "We are on track for the milestone.",
    "The ticket is still in review.", "Any other business before we wrap up?", "See you all tomorrow.",
    "I need another day for the report.", "The numbers look the same as last time.",
    "Please update the tracker after this call.", "We should invite the others next time.",
    "That sounds good to me.", "Let me check and get back to you.", "I moved the meeting to Thursday.",
]
FILLER_TITLES = ["Daily standup", "Weekly sync", "Status update", "Planning", "One on one", "Team check-in"]
STOP = providers._STOP_WORDS | {"did", "we", "our", "are", "how", "which", "what", "why", "when"}
BASE = datetime(2026, 10, 1, 9, tzinfo=timezone.utc)


def content_words(text: str) -> set[str]:
    return {w for w in fulltext.WORD.findall(text.lower()) if w not in STOP}


def check_labels() -> None:
    """Every paraphrased question shares no content word (nor a prefix of one) with its meeting."""
    meetings = dict(MEETINGS)
    for question, title in PARAPHRASED:
        words = content_words(title + " " + " ".join(meetings[title]))
        shared = {q for q in content_words(question) for w in words if w.startswith(q)}
        if shared:
            raise SystemExit(f"{question!r} shares {sorted(shared)} with {title!r}")
    for question, title in SHARED:
        if not content_words(question) & content_words(title + " " + " ".join(meetings[title])):
            raise SystemExit(f"{question!r} shares no word with {title!r}")


def build(app, fillers: int) -> dict[str, int]:
    rng = random.Random(19)
    corpus = [(title, lines) for title, lines in MEETINGS]
    corpus += [(rng.choice(FILLER_TITLES), rng.sample(FILLER, 6)) for _ in range(fillers)]
    rng.shuffle(corpus)
    ids = {}
    with app.app_context():
        admin = create_user("admin@example.com", "bench-password-1", role="admin")
        for n, (title, lines) in enumerate(corpus):
            spoken = [rng.choice(FILLER)] + list(lines) + [rng.choice(FILLER)]
            data = CallData(source="fathom", external_id=f"q{n}", title=title, started_at=BASE + timedelta(hours=n),
                            ended_at=BASE + timedelta(hours=n, minutes=30), recorded_by_name="Sam Host",
                            segments=[SegmentData(speaker=("Sam Host", "Alex Guest")[i % 2], text=text,
                                                  start_ms=i * 20_000, end_ms=i * 20_000 + 15_000)
                                      for i, text in enumerate(spoken)])
            call_id = upsert_call(admin, data).call.id
            if title in dict(MEETINGS):
                ids[title] = call_id
        db.session.commit()
        started = time.perf_counter()
        with providers.OfflineProvider() as provider:
            for call_id in db.session.scalars(select(Call.id)).all():
                enrichment.enrich_call(call_id, provider)
        print(f"  {len(corpus)} meetings stored and embedded in {time.perf_counter() - started:.1f}s")
    return ids


def fulltext_ranking(session, q: str) -> list[int]:
    query = fulltext.parse(q)
    finder = fulltext.Finder(session, fulltext.MAX_COLLECTED_LINES)
    found = finder.find_calls(select(Call.id), query)
    if found is None:
        return finder.walk_newest(select(Call).order_by(Call.started_at.desc()), query, 200)
    scores = fulltext.rank(session, sorted(found), query)
    return sorted(scores, key=lambda c: -scores[c])


def semantic_ranking(session, provider, q: str) -> list[int]:
    vector = provider.embed([q])[0]
    passages = vectors.best_passages(session, None, vector, provider.embedding_model, embedders.MIN_SIMILARITY)
    return sorted(passages, key=lambda c: -passages[c].similarity)


def hybrid_ranking(admin, provider, q: str) -> list[int]:
    page = results.search(admin, CallFilters(q=q), provider, limit=50, min_similarity=embedders.MIN_SIMILARITY)
    return [hit.call.id for hit in page.hits]


def score(rankings: list[tuple[list[int], int]]) -> tuple[float, float]:
    recall = sum(1 for ranking, wanted in rankings if wanted in ranking[:3]) / len(rankings)
    mrr = sum(1 / (ranking.index(wanted) + 1) for ranking, wanted in rankings if wanted in ranking) / len(rankings)
    return recall, mrr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", help="an empty database's URL (default: a throwaway SQLite file)")
    parser.add_argument("--fillers", type=int, default=300)
    parser.add_argument("--verbose", action="store_true", help="print each question's ranks")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    check_labels()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{folder}/quality.sqlite3"
        app = create_app({"SQLALCHEMY_DATABASE_URI": normalize_database_url(url), "INPROCESS_WORKER": False,
                          "INPROCESS_QUEUE": True, "TESTING": True})
        with app.app_context():
            db.create_all()
            with db.engine.begin() as connection:
                ensure_search_schema(connection)
        ids = build(app, args.fillers)
        with app.app_context(), providers.OfflineProvider() as provider:
            from callvault.models import User
            admin = db.session.scalar(select(User).where(User.role == "admin"))
            table = []
            for label, questions in (("paraphrased", PARAPHRASED), ("sharing words", SHARED)):
                row = {}
                for method in ("full-text", "semantic", "hybrid"):
                    rankings = []
                    for question, title in questions:
                        if method == "full-text":
                            ranking = fulltext_ranking(db.session, question)
                        elif method == "semantic":
                            ranking = semantic_ranking(db.session, provider, question)
                        else:
                            ranking = hybrid_ranking(admin, provider, question)
                        db.session.rollback()
                        rankings.append((ranking, ids[title]))
                        if args.verbose and method == "hybrid":
                            rank = ranking.index(ids[title]) + 1 if ids[title] in ranking else None
                            print(f"    {rank!s:>4}  {question}")
                    row[method] = score(rankings)
                table.append((label, len(questions), row))
    print(f"\nSearch quality over {len(MEETINGS) + args.fillers} meetings ({embedders.MODEL_NAME}, "
          f"min similarity {embedders.MIN_SIMILARITY}):")
    print(f"  {'questions':<22}{'full-text':>20}{'semantic':>20}{'hybrid':>20}")
    print(f"  {'':<22}" + "".join(f"{'recall@3   MRR':>20}" for _ in range(3)))
    for label, count, row in table:
        print(f"  {f'{label} ({count})':<22}" + "".join(
            f"{row[m][0]:>12.2f}{row[m][1]:>8.2f}" for m in ("full-text", "semantic", "hybrid")))
    paraphrased, shared = table[0][2], table[1][2]
    print(f"\n  goal: hybrid recall@3 >= 0.6 on paraphrased: {paraphrased['hybrid'][0]:.2f} "
          f"({'met' if paraphrased['hybrid'][0] >= 0.6 else 'NOT met'}); hybrid not worse than full-text on "
          f"word-sharing: recall {shared['hybrid'][0]:.2f} vs {shared['full-text'][0]:.2f}, "
          f"MRR {shared['hybrid'][1]:.2f} vs {shared['full-text'][1]:.2f} "
          f"({'met' if shared['hybrid'] >= shared['full-text'] else 'NOT met'})")


if __name__ == "__main__":
    main()
