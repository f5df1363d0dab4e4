"""Names of the simulated world: people, companies, products (Russian and English).

Every e-mail lives under a reserved-style domain (``*.example.ru`` / ``*.example.com``),
never a real company's domain.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RU_MALE = (
    "Александр",
    "Алексей",
    "Андрей",
    "Антон",
    "Артём",
    "Борис",
    "Вадим",
    "Валерий",
    "Виктор",
    "Владимир",
    "Дмитрий",
    "Евгений",
    "Иван",
    "Игорь",
    "Кирилл",
    "Константин",
    "Максим",
    "Михаил",
    "Никита",
    "Николай",
    "Олег",
    "Павел",
    "Роман",
    "Сергей",
    "Станислав",
    "Юрий",
)
RU_FEMALE = (
    "Алина",
    "Анастасия",
    "Анна",
    "Валентина",
    "Вера",
    "Виктория",
    "Галина",
    "Дарья",
    "Екатерина",
    "Елена",
    "Ирина",
    "Ксения",
    "Лариса",
    "Людмила",
    "Марина",
    "Мария",
    "Наталья",
    "Ольга",
    "Полина",
    "Светлана",
    "Татьяна",
    "Юлия",
)
RU_SURNAMES = (
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
    "Андреев",
    "Макаров",
    "Никитин",
    "Захаров",
    "Зайцев",
    "Соловьёв",
    "Борисов",
    "Яковлев",
    "Григорьев",
    "Романов",
    "Воробьёв",
    "Сергеев",
    "Кузьмин",
    "Фролов",
    "Александров",
    "Дмитриев",
    "Королёв",
    "Гусев",
    "Киселёв",
    "Ильин",
    "Максимов",
    "Поляков",
    "Сорокин",
    "Виноградов",
    "Ковалёв",
    "Белов",
    "Медведев",
    "Антонов",
    "Тарасов",
    "Жуков",
    "Баранов",
    "Филиппов",
    "Комаров",
    "Давыдов",
    "Беляев",
    "Герасимов",
    "Богданов",
    "Осипов",
    "Сидоров",
    "Матвеев",
    "Титов",
    "Марков",
    "Миронов",
    "Крылов",
    "Куликов",
    "Карпов",
    "Власов",
    "Мельников",
    "Денисов",
    "Гаврилов",
    "Тихонов",
    "Казаков",
    "Афанасьев",
    "Данилов",
    "Савельев",
    "Тимофеев",
    "Фомин",
    "Чернов",
    "Абрамов",
    "Мартынов",
    "Ефимов",
    "Федотов",
    "Щербаков",
    "Назаров",
    "Калинин",
    "Исаев",
    "Чернышёв",
    "Быков",
    "Маслов",
    "Родионов",
    "Коновалов",
    "Лазарев",
    "Воронин",
    "Климов",
    "Филатов",
    "Пономарёв",
    "Голубев",
    "Кудрявцев",
    "Прохоров",
)
EN_FIRST = (
    "James",
    "John",
    "Robert",
    "Michael",
    "David",
    "William",
    "Richard",
    "Thomas",
    "Daniel",
    "Mark",
    "Paul",
    "Steven",
    "Andrew",
    "Peter",
    "George",
    "Oliver",
    "Lukas",
    "Jonas",
    "Erik",
    "Mary",
    "Linda",
    "Susan",
    "Karen",
    "Emma",
    "Sarah",
    "Laura",
    "Anna",
    "Julia",
    "Sophie",
    "Hannah",
    "Claire",
    "Ingrid",
    "Maria",
    "Elena",
)
EN_SURNAMES = (
    "Smith",
    "Johnson",
    "Brown",
    "Taylor",
    "Wilson",
    "Davies",
    "Evans",
    "Thomas",
    "Roberts",
    "Walker",
    "Wright",
    "Hughes",
    "Green",
    "Hall",
    "Wood",
    "Clarke",
    "Turner",
    "Hill",
    "Moore",
    "Cooper",
    "Ward",
    "Morris",
    "King",
    "Baker",
    "Harris",
    "Lewis",
    "Young",
    "Schmidt",
    "Fischer",
    "Weber",
    "Becker",
    "Larsen",
    "Nielsen",
    "Jensen",
    "Virtanen",
    "Novak",
    "Kowalski",
    "Horvath",
    "Rossi",
    "Bianchi",
    "Dubois",
    "Laurent",
    "Martin",
)
RU_COMPANY_FORMS = ("ООО", "ООО", "ООО", "АО", "АО", "ПАО")
RU_COMPANY_PREFIXES = (
    "Урал",
    "Сибирь",
    "Волга",
    "Север",
    "Восток",
    "Юг",
    "Нева",
    "Кама",
    "Ока",
    "Дон",
    "Амур",
    "Балт",
    "Альфа",
    "Вектор",
    "Гранит",
    "Прометей",
    "Меридиан",
    "Орион",
    "Атлант",
    "Енисей",
    "Байкал",
    "Печора",
    "Ладога",
    "Алтай",
    "Каспий",
    "Селена",
    "Азимут",
    "Зенит",
    "Квант",
    "Титан",
    "Магистраль",
    "Регион",
    "Тех",
    "Пром",
    "Инвест",
    "Форт",
    "Стандарт",
    "Профи",
)
RU_COMPANY_ROOTS = {
    "metals": ("Металл", "Сталь", "Прокат", "МетСнаб", "СтройМет", "Профиль", "Арм"),
    "chemicals": ("Хим", "ХимПром", "Агро", "Полимер", "Реагент", "Синтез", "Лак"),
    "distribution": ("Торг", "Снаб", "Комплект", "Маркет", "Опт", "Ресурс", "Склад"),
}
EN_COMPANY_PREFIXES = (
    "Nordic",
    "Baltic",
    "Atlas",
    "Summit",
    "Granite",
    "Vertex",
    "Orion",
    "Harbor",
    "Alpine",
    "Danube",
    "Rhine",
    "Aurora",
    "Meridian",
    "Polar",
    "Crescent",
    "Pioneer",
    "Keystone",
)
EN_COMPANY_ROOTS = {
    "metals": ("Steel", "Metals", "Alloys", "Metalworks", "Forge"),
    "chemicals": ("Chemicals", "Polymers", "Coatings", "Agro", "Reagents"),
    "distribution": ("Supply", "Trading", "Industrial", "Distribution", "Components"),
}
EN_COMPANY_FORMS = ("Ltd", "GmbH", "LLC", "AB", "Oy", "s.r.o.")

_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "",
            "y",
            "",
            "e",
            "yu",
            "ya",
        ],
        strict=True,
    )
)


def translit(text: str) -> str:
    """Latin letters for a Russian word, as used in e-mail addresses (lower case)."""
    return "".join(_TRANSLIT.get(ch, ch) for ch in text.lower() if ch.isalnum())


def feminine(surname: str) -> str:
    """The feminine form of a Russian surname (Иванов -> Иванова)."""
    return surname + "а" if surname.endswith(("ов", "ев", "ёв", "ин")) else surname


@dataclass(frozen=True)
class Person:
    """A contact person: full name as written in the CRM and the local part of the e-mail."""

    full_name: str
    mailbox: str


def person(language: str, rng: np.random.Generator) -> Person:
    """A random person: Cyrillic "Фамилия Имя Отчество" for ru, "First Last" for en."""
    if language == "en":
        first, last = (
            EN_FIRST[rng.integers(len(EN_FIRST))],
            EN_SURNAMES[rng.integers(len(EN_SURNAMES))],
        )
        return Person(f"{first} {last}", f"{first}.{last}".lower())
    father = RU_MALE[rng.integers(len(RU_MALE))]
    surname = RU_SURNAMES[rng.integers(len(RU_SURNAMES))]
    if rng.random() < 0.45:
        first = RU_FEMALE[rng.integers(len(RU_FEMALE))]
        patronymic = _patronymic(father, female=True)
        surname = feminine(surname)
    else:
        first = RU_MALE[rng.integers(len(RU_MALE))]
        patronymic = _patronymic(father, female=False)
    return Person(f"{surname} {first} {patronymic}", f"{translit(first)[0]}.{translit(surname)}")


PATRONYMIC_STEMS = {
    "Андрей": "Андреев",
    "Алексей": "Алексеев",
    "Сергей": "Сергеев",
    "Николай": "Николаев",
    "Дмитрий": "Дмитриев",
    "Юрий": "Юрьев",
    "Валерий": "Валерьев",
    "Евгений": "Евгеньев",
    "Павел": "Павлов",
    "Никита": "Никит",
}


def _patronymic(father: str, *, female: bool) -> str:
    """Отчество from the father's first name (Иван -> Иванович / Ивановна)."""
    stem = PATRONYMIC_STEMS.get(father, father + "ов")
    if father == "Никита":
        return "Никитична" if female else "Никитич"
    return stem + ("на" if female else "ич")


@dataclass(frozen=True)
class Company:
    """A client company: its registered name and its (fictional) mail domain."""

    name: str
    domain: str


def companies(segments: list[str], english: np.ndarray, rng: np.random.Generator) -> list[Company]:
    """One distinct company per client, named in its language; domains unique per client."""
    seen: dict[str, int] = {}
    out: list[Company] = []
    for segment, is_en in zip(segments, english.tolist(), strict=True):
        if is_en:
            prefix = EN_COMPANY_PREFIXES[rng.integers(len(EN_COMPANY_PREFIXES))]
            root = EN_COMPANY_ROOTS[segment][rng.integers(len(EN_COMPANY_ROOTS[segment]))]
            form = EN_COMPANY_FORMS[rng.integers(len(EN_COMPANY_FORMS))]
            stem, slug, tld = f"{prefix} {root}", f"{prefix}{root}".lower(), "example.com"
        else:
            prefix = RU_COMPANY_PREFIXES[rng.integers(len(RU_COMPANY_PREFIXES))]
            root = RU_COMPANY_ROOTS[segment][rng.integers(len(RU_COMPANY_ROOTS[segment]))]
            form = RU_COMPANY_FORMS[rng.integers(len(RU_COMPANY_FORMS))]
            stem, slug, tld = f"{prefix}{root.lower()}", translit(prefix + root), "example.ru"
        count = seen[slug] = seen.get(slug, 0) + 1
        suffix = "" if count == 1 else f"-{count}"
        name = f"{stem}{suffix} {form}" if is_en else f"{form} «{stem}{suffix}»"
        out.append(Company(name, f"{slug}{suffix}.{tld}"))
    return out


@dataclass(frozen=True)
class ProductKind:
    """A product family: Russian and English name, unit, cost per unit, variants."""

    ru: str
    en: str
    unit: str
    unit_cost: float
    variants: tuple[str, ...]


PRODUCT_KINDS: dict[str, tuple[ProductKind, ...]] = {
    "metals": (
        ProductKind(
            "Арматура А500С",
            "Rebar A500C",
            "t",
            56000,
            ("Ø8", "Ø10", "Ø12", "Ø14", "Ø16", "Ø20", "Ø25"),
        ),
        ProductKind(
            "Лист горячекатаный",
            "Hot-rolled sheet",
            "t",
            62000,
            ("2 mm", "3 mm", "4 mm", "6 mm", "8 mm", "10 mm"),
        ),
        ProductKind(
            "Труба профильная",
            "Square tube",
            "m",
            420,
            ("40x40x2", "50x50x3", "60x60x3", "80x80x4", "100x100x4"),
        ),
        ProductKind(
            "Уголок стальной",
            "Steel angle",
            "t",
            60000,
            ("50x50x5", "63x63x5", "75x75x6", "90x90x7"),
        ),
        ProductKind("Швеллер", "Steel channel", "t", 64000, ("10П", "12П", "14П", "16П", "20П")),
        ProductKind(
            "Проволока вязальная", "Binding wire", "kg", 140, ("1.2 mm", "1.6 mm", "2.0 mm")
        ),
        ProductKind(
            "Круг нержавеющий AISI 304",
            "Stainless round bar AISI 304",
            "kg",
            380,
            ("Ø10", "Ø20", "Ø30", "Ø40"),
        ),
        ProductKind("Сетка сварная", "Welded mesh", "pcs", 900, ("50x50", "100x100", "150x150")),
        ProductKind("Полоса стальная", "Steel strip", "t", 63000, ("20x4", "40x4", "50x5")),
        ProductKind("Балка двутавровая", "I-beam", "t", 68000, ("20Б1", "25Б1", "30Б1", "35Б1")),
    ),
    "chemicals": (
        ProductKind("Сода каустическая", "Caustic soda", "kg", 62, ("flakes", "liquid 46%")),
        ProductKind(
            "Кислота серная техническая",
            "Technical sulphuric acid",
            "t",
            12000,
            ("92.5%", "94%", "96%"),
        ),
        ProductKind("Растворитель", "Solvent", "kg", 150, ("646", "647", "Р-4", "nefras")),
        ProductKind(
            "Полипропилен гранулированный",
            "Polypropylene granules",
            "t",
            118000,
            ("H030", "H350", "B120", "R200"),
        ),
        ProductKind("Смола эпоксидная", "Epoxy resin", "kg", 450, ("ED-20", "ED-16", "DER-331")),
        ProductKind("Карбамид", "Urea", "t", 31000, ("grade A", "grade B")),
        ProductKind("Коагулянт", "Coagulant", "kg", 42, ("PAC-18", "PAC-30", "alum sulfate")),
        ProductKind("Пластификатор", "Plasticiser", "kg", 210, ("DOTP", "DINP", "DBP")),
        ProductKind(
            "Краситель пигментный",
            "Pigment dye",
            "kg",
            690,
            ("red", "blue", "yellow", "black", "white"),
        ),
        ProductKind(
            "Антифриз концентрат", "Antifreeze concentrate", "kg", 120, ("G11", "G12", "G13")
        ),
        ProductKind("Перекись водорода", "Hydrogen peroxide", "kg", 75, ("37%", "50%", "60%")),
    ),
    "distribution": (
        ProductKind(
            "Болт DIN 933",
            "Bolt DIN 933",
            "pcs",
            12,
            ("M6x30", "M8x40", "M10x50", "M12x60", "M16x80"),
        ),
        ProductKind("Подшипник", "Bearing", "pcs", 180, ("6202", "6204", "6205", "6206", "6308")),
        ProductKind("Кабель ВВГнг", "Cable VVGng", "m", 95, ("3x1.5", "3x2.5", "5x4", "5x6")),
        ProductKind("Перчатки рабочие", "Work gloves", "pcs", 35, ("cotton", "nitrile", "latex")),
        ProductKind("Кран шаровой", "Ball valve", "pcs", 650, ("DN15", "DN20", "DN25", "DN50")),
        ProductKind("Шланг напорный", "Pressure hose", "m", 210, ("12 mm", "16 mm", "25 mm")),
        ProductKind(
            "Герметик силиконовый", "Silicone sealant", "pcs", 240, ("clear", "white", "sanitary")
        ),
        ProductKind("Лента упаковочная", "Packing tape", "pcs", 60, ("48 mm", "72 mm")),
        ProductKind(
            "Саморез кровельный",
            "Roofing screw",
            "pcs",
            4,
            ("4.8x29", "4.8x35", "5.5x19", "6.3x32"),
        ),
        ProductKind("Ремень приводной", "Drive belt", "pcs", 520, ("A-1000", "B-1250", "SPZ-1180")),
        ProductKind("Смазка литиевая", "Lithium grease", "kg", 330, ("Litol-24", "EP-2")),
    ),
}


@dataclass(frozen=True)
class ProductName:
    """A catalogue product's names, unit, family cost and category."""

    ru: str
    en: str
    unit: str
    unit_cost: float
    category: str


def catalogue(segment: str, count: int) -> list[ProductName]:
    """``count`` distinct products of a segment: each family's variants in turn."""
    kinds = PRODUCT_KINDS[segment]
    deepest = max(len(k.variants) for k in kinds)
    pairs = [(k, k.variants[d]) for d in range(deepest) for k in kinds if d < len(k.variants)]
    out: list[ProductName] = []
    for i in range(count):
        kind, variant = pairs[i % len(pairs)]
        edition = "" if i < len(pairs) else f" v{i // len(pairs) + 1}"
        out.append(
            ProductName(
                f"{kind.ru} {variant}{edition}",
                f"{kind.en} {variant}{edition}",
                kind.unit,
                kind.unit_cost,
                kind.en,
            )
        )
    return out
