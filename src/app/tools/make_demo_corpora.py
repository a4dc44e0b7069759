"""Write the two small demo corpora shipped in `data/demo/` (deterministic: same seed, same bytes).

    python -m app.tools.make_demo_corpora [--out data/demo] [--seed 2024]

- `web1.xml`: a TEI `teiCorpus` of crawled web pages (one `TEI` per page; the header names the
  organisation behind the site, the site, the URL, the title and the date) — reader `web`;
- `asr1.xml`: automatic speech transcripts of radio/TV debates (one `u` per speaker turn: lower case,
  no punctuation, disfluencies, repetitions) — reader `turns`.

Five ideology classes (far_left, left, centre, right, far_right), three invented organisations /
speakers each (all names are fictional, sites use the reserved `.example` domain), unequal class
sizes.  The texts are built to be learnable but not trivially so: every class draws most words from
a shared political vocabulary, its own topic words come with neighbouring classes' words mixed in,
and some pages or turns are neutral (agenda, boilerplate, small talk).  `conf/view/ideology_global.yaml`
maps each actor to its class.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from lxml import etree

TEI_NS = "http://www.tei-c.org/ns/1.0"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
SEED = 2024
CLASSES = ("far_left", "left", "centre", "right", "far_right")
NEIGHBOURS = {
    "far_left": ("left",),
    "left": ("far_left", "centre"),
    "centre": ("left", "right"),
    "right": ("centre", "far_right"),
    "far_right": ("right",),
}

# organisations behind the web sites: key (the actor id), display name, class, number of pages
ORGANISATIONS = (
    ("front_ouvrier", "Front ouvrier", "far_left", 30),
    ("collectif_insurge", "Collectif insurgé", "far_left", 22),
    ("revolution_sociale", "Parti de la révolution sociale", "far_left", 14),
    ("gauche_solidaire", "Gauche solidaire", "left", 48),
    ("alliance_ecologique", "Alliance écologique et sociale", "left", 36),
    ("socialistes_unis", "Socialistes unis", "left", 26),
    ("renouveau_central", "Renouveau central", "centre", 40),
    ("mouvement_equilibre", "Mouvement de l'équilibre", "centre", 28),
    ("democrates_progres", "Démocrates pour le progrès", "centre", 20),
    ("union_republicaine", "Union républicaine", "right", 52),
    ("droite_liberale", "Droite libérale", "right", 38),
    ("avenir_conservateur", "Avenir conservateur", "right", 30),
    ("ligue_patriote", "Ligue patriote", "far_right", 24),
    ("souverainete_d_abord", "Souveraineté d'abord", "far_right", 18),
    ("rempart_national", "Rempart national", "far_right", 12),
)

# politicians speaking in the transcripts: id, display name, class, number of turns
SPEAKERS = (
    ("louise_marchand", "Louise Marchand", "far_left", 34),
    ("karim_benali", "Karim Benali", "far_left", 24),
    ("yann_le_goff", "Yann Le Goff", "far_left", 14),
    ("claire_morin", "Claire Morin", "left", 40),
    ("julien_faure", "Julien Faure", "left", 30),
    ("sophie_renaud", "Sophie Renaud", "left", 22),
    ("thomas_girard", "Thomas Girard", "centre", 30),
    ("nadia_cheriet", "Nadia Cheriet", "centre", 22),
    ("antoine_blanc", "Antoine Blanc", "centre", 14),
    ("philippe_roussel", "Philippe Roussel", "right", 46),
    ("helene_dumas", "Hélène Dumas", "right", 34),
    ("marc_lefebvre", "Marc Lefebvre", "right", 24),
    ("bruno_castaing", "Bruno Castaing", "far_right", 24),
    ("sylvie_arnaud", "Sylvie Arnaud", "far_right", 14),
    ("gerard_vasseur", "Gérard Vasseur", "far_right", 8),
)
HOSTS = (("animatrice", "l'animatrice"), ("animateur", "l'animateur"))

SHARED = (
    "l'emploi", "la santé", "l'école", "le budget", "les territoires", "la sécurité", "le pouvoir d'achat",
    "les retraites", "l'agriculture", "les collectivités", "la jeunesse", "l'industrie", "les transports",
    "le logement", "la culture", "les familles", "le travail", "l'énergie", "la démocratie", "la réforme",
    "l'avenir du pays", "les Français", "la République", "les services", "la croissance", "l'inflation",
)
TOPICS = {
    "far_left": (
        "les travailleurs", "le capital", "les actionnaires", "la grève générale", "les profits",
        "l'exploitation", "la planification", "la sixième République", "les multinationales",
        "la nationalisation des banques", "le partage des richesses", "l'oligarchie", "les licenciements",
        "les luttes sociales", "la précarité", "le smic à deux mille euros", "les dividendes",
    ),
    "left": (
        "la justice sociale", "les services publics", "la transition écologique", "l'égalité",
        "les salaires", "la solidarité", "l'hôpital public", "le logement social", "les inégalités",
        "le climat", "la redistribution", "l'école publique", "les associations", "le droit du travail",
        "la précarité", "la biodiversité",
    ),
    "centre": (
        "la modernisation", "le dialogue social", "l'Europe", "l'innovation", "la compétitivité",
        "le pragmatisme", "la responsabilité budgétaire", "le dépassement des clivages",
        "les réformes structurelles", "la simplification administrative", "le numérique",
        "l'entrepreneuriat", "la construction européenne", "l'apprentissage", "le compromis",
    ),
    "right": (
        "l'ordre", "l'autorité", "les impôts", "la dette", "les entreprises", "la liberté d'entreprendre",
        "la famille", "le mérite", "les charges sociales", "la fiscalité", "les forces de l'ordre",
        "la baisse des dépenses publiques", "la valeur travail", "les classes moyennes", "la propriété",
        "l'assistanat",
    ),
    "far_right": (
        "l'immigration massive", "le contrôle des frontières", "l'identité nationale", "la souveraineté",
        "l'insécurité", "la priorité nationale", "les racines chrétiennes", "la nation", "Bruxelles",
        "le mondialisme", "les élites", "le peuple", "l'assimilation", "la délinquance", "nos traditions",
        "l'autorité",
    ),
}
# a few openers per class, shared with the neighbours too (see _pick)
OPENERS = {
    "far_left": ("Camarades,", "Tous ensemble,", "Face au patronat,"),
    "left": ("Chers concitoyens,", "Ensemble,", "Pour une société plus juste,"),
    "centre": ("Soyons lucides :", "Au-delà des clivages,", "Avec pragmatisme,"),
    "right": ("Chers amis,", "Disons-le clairement :", "Avec fermeté,"),
    "far_right": ("Chers compatriotes,", "Patriotes,", "Il faut le dire :"),
}

WEB_TEMPLATES = (
    "Notre priorité reste {a}, sans oublier {b}.",
    "Face à la crise, nous défendons {a} et {b}.",
    "Le gouvernement ignore {a} pendant que la situation se dégrade.",
    "Nous proposons un plan clair pour {a}.",
    "{A} et {b} seront au cœur de notre programme.",
    "Il est temps d'agir sur {a}.",
    "Les Français attendent des réponses sur {a}, sur {b} et sur {c}.",
    "Lors de notre réunion publique, nous avons débattu avec les habitants sur {a}.",
    "Avec {a}, nous construirons {b}.",
    "Cette semaine, nos élus ont déposé une proposition de loi sur {a}.",
    "Nous refusons toute politique qui oublie {a}.",
    "Le débat sur {a} montre que {b} reste une question centrale.",
    "Notre mouvement se mobilise partout en France pour {a}.",
    "Rien ne se fera sans {a}.",
    "Notre tribune publiée ce matin revient sur {a} et sur {b}.",
)
NEUTRAL_WEB = (
    "Retrouvez toutes nos actualités sur notre site.",
    "Rendez-vous samedi prochain pour une rencontre avec nos militants.",
    "Inscrivez-vous à notre lettre d'information.",
    "Nos équipes restent mobilisées dans tous les départements.",
    "Le conseil national se réunira le mois prochain.",
    "La réunion se tiendra à la salle des fêtes à dix-huit heures.",
    "Merci à toutes celles et ceux qui ont participé à cette belle journée.",
    "Les inscriptions pour l'université d'été sont ouvertes.",
    "Vous pouvez nous écrire à l'adresse indiquée en bas de page.",
    "Le compte rendu complet sera publié dans les prochains jours.",
)
TITLE_TEMPLATES = (
    "Notre position sur {a}", "{A} : nos propositions", "Tribune : {a}", "Communiqué sur {a}", "{A}, une urgence",
)
NEUTRAL_TITLES = ("Agenda de la semaine", "Mentions légales", "Adhérer", "Nous contacter", "Revue de presse")

ASR_TEMPLATES = (
    "alors moi je pense que {a} c'est essentiel",
    "écoutez {a} ça fait des années qu'on en parle",
    "mais non mais attendez {a} c'est pas du tout le sujet le sujet c'est {b}",
    "nous ce qu'on dit c'est que {a} et {b} ça va ensemble",
    "les gens sur le terrain ils me parlent tous les jours de la même chose {a}",
    "il faut arrêter avec {a}",
    "la vraie question c'est {a}",
    "on a un vrai problème avec {a} et personne ne veut le voir",
    "franchement {a} c'est la priorité",
    "quand on regarde {a} on voit bien que {b} est en train de lâcher",
    "je vais vous dire une chose sur {a}",
    "vous savez ce qui compte c'est {a} c'est pas {b}",
    "dans ma circonscription {a} c'est tous les jours",
    "le gouvernement il parle de {a} mais en réalité il ne fait rien",
)
NEUTRAL_ASR = (
    "oui bonjour merci de me recevoir",
    "bon je vais essayer d'être rapide",
    "attendez laissez moi finir",
    "oui oui bien sûr",
    "je vous remercie pour la question",
    "non mais je vais répondre je vais répondre",
    "c'est une bonne question",
    "on en a parlé la semaine dernière déjà",
)
HOST_LINES = (
    "bonjour à toutes et à tous et bienvenue dans la matinale",
    "merci d'être avec nous ce matin on passe à la question suivante",
    "une question maintenant sur {a} qu'est ce que vous proposez concrètement",
    "on parle beaucoup de {a} cette semaine est ce que vous êtes d'accord",
    "il nous reste deux minutes rapidement sur {a}",
    "vous écoutez le grand débat il est huit heures vingt",
)
FILLERS = ("euh", "euh", "euh", "ben", "bah", "bon", "enfin", "voilà", "hein", "donc", "alors")
SHOWS = ("matinale-radio", "debat-tele", "grand-entretien", "journal-du-soir", "emission-politique")


class TextMaker:
    """Sentence-template text with class-specific topic words diluted by shared and neighbours' words."""

    def __init__(self, rng: random.Random, p_own: float = 0.34, p_neighbour: float = 0.22):
        self.rng = rng
        self.p_own = p_own
        self.p_neighbour = p_neighbour

    def term(self, label: str) -> str:
        draw = self.rng.random()
        if draw < self.p_own:
            return self.rng.choice(TOPICS[label])
        if draw < self.p_own + self.p_neighbour:
            return self.rng.choice(TOPICS[self.rng.choice(NEIGHBOURS[label])])
        if draw < self.p_own + self.p_neighbour + 0.06:  # any class's word: a quote, a rebuttal
            return self.rng.choice(TOPICS[self.rng.choice(CLASSES)])
        return self.rng.choice(SHARED)

    def fill(self, template: str, label: str | None) -> str:
        terms = [self.term(label) if label else self.rng.choice(SHARED) for _ in range(3)]
        first = terms[0][:1].upper() + terms[0][1:]
        return template.format(a=terms[0], b=terms[1], c=terms[2], A=first)

    def opener(self, label: str) -> str | None:
        if self.rng.random() < 0.25:
            pool = label if self.rng.random() < 0.6 else self.rng.choice(NEIGHBOURS[label])
            return self.rng.choice(OPENERS[pool])
        return None


def _schedule(actors: tuple[tuple[str, str, str, int], ...], rng: random.Random) -> list[tuple[str, str, str]]:
    """(actor id, display name, label) once per document, shuffled so classes interleave in the file."""
    plan = [(key, name, label) for key, name, label, count in actors for _ in range(count)]
    rng.shuffle(plan)
    return plan


def _tei(tag: str, parent: etree._Element | None = None, text: str | None = None, **attrib: str) -> etree._Element:
    elem = etree.Element(f"{{{TEI_NS}}}{tag}", nsmap={None: TEI_NS}) if parent is None else etree.SubElement(
        parent, f"{{{TEI_NS}}}{tag}"
    )
    for key, value in attrib.items():
        elem.set(XML_ID if key == "xml_id" else key, value)
    if text is not None:
        elem.text = text
    return elem


def _slug(text: str) -> str:
    table = str.maketrans("àâäéèêëîïôöùûüçœ'’ :,", "aaaeeeeiioouuuco----_")
    slug = text.lower().translate(table)
    return "-".join(part for part in "".join(c if c.isalnum() else "-" for c in slug).split("-") if part)[:60]


def _random_date(rng: random.Random, year_from: int = 2021, year_to: int = 2024) -> str:
    return f"{rng.randint(year_from, year_to)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _header(parent: etree._Element, title: str) -> etree._Element:
    header = _tei("teiHeader", parent)
    file_desc = _tei("fileDesc", header)
    title_stmt = _tei("titleStmt", file_desc)
    _tei("title", title_stmt, title)
    publication = _tei("publicationStmt", file_desc)
    _tei("p", publication, "Corpus de démonstration généré par app.tools.make_demo_corpora (textes fictifs).")
    source = _tei("sourceDesc", file_desc)
    _tei("p", source, "Textes synthétiques : organisations, personnes et sites inventés.")
    return header


def build_web1(rng: random.Random) -> etree._ElementTree:
    maker = TextMaker(rng)
    corpus = _tei("teiCorpus")
    _header(corpus, "web1 — pages de sites politiques (démonstration)")
    previous: dict[str, etree._Element] = {}
    for n, (key, name, label) in enumerate(_schedule(ORGANISATIONS, rng), start=1):
        # a crawl fetches some pages twice under another URL: exact duplicates within one site
        duplicate_of = previous.get(key) if rng.random() < 0.03 else None
        neutral = rng.random() < 0.16
        if duplicate_of is not None:
            title = duplicate_of.findtext(f".//{{{TEI_NS}}}title")
            paragraphs = [p.text for p in duplicate_of.find(f"{{{TEI_NS}}}text").iter(f"{{{TEI_NS}}}p")]
        elif neutral:
            title = rng.choice(NEUTRAL_TITLES)
            paragraphs = [
                " ".join(rng.sample(NEUTRAL_WEB, rng.randint(2, 4))) + f" {name} vous remercie."
                for _ in range(rng.randint(1, 3))
            ]
        else:
            title = maker.fill(rng.choice(TITLE_TEMPLATES), label)
            paragraphs = []
            for _ in range(rng.randint(2, 4)):
                sentences = [maker.fill(rng.choice(WEB_TEMPLATES), label) for _ in range(rng.randint(2, 4))]
                opener = maker.opener(label)
                if opener:
                    sentences[0] = f"{opener} {sentences[0][:1].lower()}{sentences[0][1:]}"
                if rng.random() < 0.3:
                    sentences.append(rng.choice(NEUTRAL_WEB))
                paragraphs.append(" ".join(sentences))
        site = key.replace("_", "-") + ".example"
        tei = _tei("TEI", corpus, xml_id=f"web1.d{n:04d}")
        header = _tei("teiHeader", tei)
        file_desc = _tei("fileDesc", header)
        title_stmt = _tei("titleStmt", file_desc)
        _tei("title", title_stmt, title)
        _tei("author", title_stmt, name, key=key, role="organisation")
        publication = _tei("publicationStmt", file_desc)
        _tei("publisher", publication, name)
        _tei("idno", publication, site, type="site")
        _tei("idno", publication, f"https://{site}/{_slug(title)}-{n}", type="URL")
        date = _random_date(rng)
        _tei("date", publication, date, when=date)
        source = _tei("sourceDesc", file_desc)
        _tei("p", source, "Page collectée (démonstration).")
        body = _tei("body", _tei("text", tei))
        div = _tei("div", body, type="page")
        _tei("head", div, title)
        for paragraph in paragraphs:
            _tei("p", div, paragraph)
        if duplicate_of is None:
            previous[key] = tei
    return etree.ElementTree(corpus)


def _spoken(text: str, rng: random.Random) -> str:
    """Lower case, no punctuation, fillers and repetitions, as an ASR system writes speech."""
    words = text.lower().replace(",", " ").replace(".", " ").replace(":", " ").replace("?", " ").split()
    out: list[str] = []
    for word in words:
        if rng.random() < 0.07:
            out.append(rng.choice(FILLERS))
        out.append(word)
        if rng.random() < 0.04:  # "les les", "on on"
            out.append(word)
    return " ".join(out)


def build_asr1(rng: random.Random) -> etree._ElementTree:
    maker = TextMaker(rng, p_own=0.52, p_neighbour=0.18)
    tei = _tei("TEI", xml_id="asr1")
    header = _header(tei, "asr1 — transcriptions automatiques de débats (démonstration)")
    profile = _tei("profileDesc", header)
    persons = _tei("listPerson", _tei("particDesc", profile))
    for key, name, _label, _count in SPEAKERS:
        person = _tei("person", persons, xml_id=key)
        _tei("persName", person, name)
    for key, name in HOSTS:
        person = _tei("person", persons, xml_id=key, role="host")
        _tei("persName", person, name)
    body = _tei("body", _tei("text", tei))
    plan = _schedule(SPEAKERS, rng)
    turns_per_show = 12
    show_number = 0
    div = None
    turn = 0
    for index, (key, _name, label) in enumerate(plan):
        if index % turns_per_show == 0:
            show_number += 1
            show = f"{rng.choice(SHOWS)}-{show_number:02d}"
            div = _tei("div", body, type="emission", n=show)
            date = _random_date(rng, 2022, 2024)
            _tei("head", div, f"{show} {date}")
            host = rng.choice(HOSTS)[0]
            turn += 1
            _tei("u", div, _spoken(maker.fill(HOST_LINES[0], None), rng), who=f"#{host}", xml_id=f"asr1.u{turn:04d}")
        if rng.random() < 0.35:  # the host asks a question first
            turn += 1
            line = maker.fill(rng.choice(HOST_LINES[1:]), None)
            _tei("u", div, _spoken(line, rng), who=f"#{host}", xml_id=f"asr1.u{turn:04d}")
        if rng.random() < 0.12:  # small talk, no political content
            sentences = rng.sample(NEUTRAL_ASR, 3) + [maker.fill(rng.choice(ASR_TEMPLATES), None)]
        else:
            sentences = [maker.fill(rng.choice(ASR_TEMPLATES), label) for _ in range(rng.randint(3, 5))]
            if rng.random() < 0.5:
                sentences.insert(0, rng.choice(NEUTRAL_ASR))
        turn += 1
        _tei("u", div, _spoken(" ".join(sentences), rng), who=f"#{key}", xml_id=f"asr1.u{turn:04d}")
    return etree.ElementTree(tei)


def write_tree(tree: etree._ElementTree, path: Path) -> None:
    etree.indent(tree, space=" ")
    data = etree.tostring(tree, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def make_demo_corpora(out: Path, seed: int = SEED) -> list[Path]:
    out = Path(out)
    written = []
    # one generator per corpus, so that changing one corpus leaves the other's bytes alone
    for name, build, offset in (("web1", build_web1, 1), ("asr1", build_asr1, 2)):
        path = out / f"{name}.xml"
        write_tree(build(random.Random(seed * 10 + offset)), path)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.tools.make_demo_corpora", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("data/demo"), help="output folder (default: data/demo)")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default: {SEED})")
    args = parser.parse_args(argv)
    for path in make_demo_corpora(args.out, args.seed):
        print(f"wrote {path} ({path.stat().st_size:,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
