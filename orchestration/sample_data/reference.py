"""Fixed reference data of the sample shop: cities, names, products, channels and spellings."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str
    region: str
    country: str
    timezone: str
    weight: float
    # Russian CRMs often hold some rows with the city typed in Cyrillic.
    native_name: str


CITIES: tuple[City, ...] = (
    City("Moscow", "Moscow", "RU", "Europe/Moscow", 26, "Москва"),
    City("Balashikha", "Moscow Oblast", "RU", "Europe/Moscow", 3, "Балашиха"),
    City("Saint Petersburg", "Saint Petersburg", "RU", "Europe/Moscow", 13, "Санкт-Петербург"),
    City("Kazan", "Tatarstan", "RU", "Europe/Moscow", 6, "Казань"),
    City("Sochi", "Krasnodar Krai", "RU", "Europe/Moscow", 4, "Сочи"),
    City("Kaliningrad", "Kaliningrad Oblast", "RU", "Europe/Kaliningrad", 4, "Калининград"),
    City("Yekaterinburg", "Sverdlovsk Oblast", "RU", "Asia/Yekaterinburg", 7, "Екатеринбург"),
    City("Novosibirsk", "Novosibirsk Oblast", "RU", "Asia/Novosibirsk", 7, "Новосибирск"),
    City("Vladivostok", "Primorsky Krai", "RU", "Asia/Vladivostok", 4, "Владивосток"),
    City("Almaty", "Almaty", "KZ", "Asia/Almaty", 15, "Алматы"),
    City("Astana", "Astana", "KZ", "Asia/Almaty", 11, "Астана"),
)

TIMEZONES: tuple[str, ...] = tuple(dict.fromkeys(city.timezone for city in CITIES))

EMAIL_DOMAINS = {
    "RU": ("mail.ru", "yandex.ru", "gmail.com", "bk.ru", "inbox.ru", "list.ru", "rambler.ru", "ya.ru"),
    "KZ": ("mail.ru", "gmail.com", "mail.kz", "yandex.kz", "inbox.ru"),
}
EMAIL_DOMAIN_WEIGHTS = {
    "RU": (0.32, 0.26, 0.2, 0.06, 0.05, 0.04, 0.04, 0.03),
    "KZ": (0.4, 0.35, 0.12, 0.08, 0.05),
}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Name pools. Kazakh customers mostly carry Kazakh names; a share carry Russian ones.
RU_MALE_FIRST = _words(
    "Александр Дмитрий Максим Сергей Андрей Алексей Артём Илья Кирилл Михаил Никита Матвей Роман "
    "Егор Иван Олег Павел Владимир Евгений Николай Антон Денис Игорь Юрий Григорий Виктор"
)
RU_FEMALE_FIRST = _words(
    "Анна Мария Елена Ольга Наталья Екатерина Татьяна Ирина Светлана Юлия Анастасия Дарья Ксения "
    "Полина Виктория Алина Софья Марина Валерия Людмила Вера Алёна Евгения Надежда Кристина"
)
KZ_MALE_FIRST = _words("Нурлан Ерлан Асхат Данияр Арман Бауыржан Ержан Канат Тимур Айдар Руслан Мадияр Ильяс")
KZ_FEMALE_FIRST = _words("Айгерим Асель Динара Гульнара Жанна Алия Айгуль Мадина Камила Сабина Дана Аружан")

RU_SURNAMES = _words(
    "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов Волков "
    "Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев Макаров Никитин "
    "Захаров Зайцев Соловьёв Борисов Яковлев Григорьев Романов Воробьёв Сергеев Кузьмин Фролов "
    "Александров Дмитриев Королёв Гусев Киселёв Ильин Максимов Поляков Сорокин Виноградов Ковалёв "
    "Белов Медведев Антонов Тарасов Жуков Баранов Филиппов Комаров Давыдов Беляев Герасимов "
    "Богданов Осипов Сидоров Матвеев Титов Марков Миронов Крылов Куликов Карпов Власов Мельников "
    "Денисов Вишневский Покровский Шевченко Бондаренко Ким"
)
KZ_SURNAMES = _words(
    "Ахметов Нурланов Жумабаев Искаков Касымов Абдрахманов Омаров Садыков Тулегенов Байжанов Есенов "
    "Мухамедов Сулейменов Кенжебаев Сейткали Абенов Шарипов"
)


def feminine_surname(surname: str) -> str:
    if surname.endswith("ий"):
        return surname[:-2] + "ая"
    if surname.endswith(("ов", "ев", "ёв", "ин")):
        return surname + "а"
    return surname


_TRANSLIT = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch",
    "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya", "ә": "a", "ғ": "g", "қ": "k",
    "ң": "n", "ө": "o", "ұ": "u", "ү": "u", "һ": "h", "і": "i",
}  # fmt: skip


def transliterate(text: str) -> str:
    """Passport-style Latin spelling, the way customers type their names into e-mail addresses."""
    latin = "".join(_TRANSLIT.get(char, char) for char in text.lower())
    return latin.capitalize()


# Product catalogue: category -> (product_id, base price in RUB at the start of 2023).
PRODUCTS: dict[str, tuple[tuple[str, int], ...]] = {
    "coffee": tuple(
        (f"P10{i:02d}", price)
        for i, price in enumerate((690, 790, 890, 990, 1190, 1490, 1790, 1990, 2290, 2490, 2890, 3290), 1)
    ),
    "tea": tuple(
        (f"P20{i:02d}", price) for i, price in enumerate((390, 450, 590, 690, 890, 1090, 1290, 1590), 1)
    ),
    "sweets": tuple(
        (f"P30{i:02d}", price) for i, price in enumerate((290, 350, 450, 590, 790, 990, 1190, 1490), 1)
    ),
    "gifts": tuple((f"P40{i:02d}", price) for i, price in enumerate((1990, 2990, 3990, 4990, 6990, 9990), 1)),
    "accessories": tuple(
        (f"P50{i:02d}", price) for i, price in enumerate((490, 790, 1290, 1990, 2990, 4990, 8990, 14990), 1)
    ),
    "equipment": tuple((f"P60{i:02d}", price) for i, price in enumerate((19990, 34990, 59990), 1)),
}
CATEGORIES: tuple[str, ...] = tuple(PRODUCTS)

# Roughly the seeds/currency_rates.csv rates, inverted: tenge per rouble by calendar year.
KZT_PER_RUB = {2022: 6.0, 2023: 6.25, 2024: 5.0, 2025: 5.26, 2026: 6.45}
# Shelf prices creep up with inflation.
YEARLY_PRICE_GROWTH = 0.08
PRICE_BASE_YEAR = 2023

ORDER_CHANNELS = ("web", "app", "marketplace", "store", "phone")
ORDER_CHANNEL_WEIGHTS = (0.5, 0.25, 0.1, 0.1, 0.05)

BUYER_ACQUISITION = ("organic_search", "paid_search", "social", "referral", "marketplace", "offline_store")
BUYER_ACQUISITION_WEIGHTS = (0.28, 0.22, 0.2, 0.1, 0.12, 0.08)
LEAD_ACQUISITION = ("landing_form", "webinar", "social", "paid_search", "cold_call")
LEAD_ACQUISITION_WEIGHTS = (0.35, 0.15, 0.2, 0.2, 0.1)

# Spellings the staging maps accept (seeds/*.csv, base_crm__customers.sql): canonical first, most often.
GENDER_SPELLINGS = {
    "male": ("M", "male", "м", "муж", "Мужской", "m"),
    "female": ("F", "female", "ж", "жен", "Женский", "f"),
}
GENDER_SPELLING_WEIGHTS = (0.45, 0.2, 0.15, 0.1, 0.05, 0.05)
OPT_IN_SPELLINGS = {True: ("true", "yes", "1", "TRUE", "да"), False: ("false", "no", "0", "FALSE", "нет")}
OPT_IN_SPELLING_WEIGHTS = (0.7, 0.1, 0.1, 0.05, 0.05)
LEAD_STATUS_SPELLINGS = {
    "new": ("new", "lead", "New"),
    "in_work": ("in_work", "in work", "In progress"),
    "refused": ("refused", "rejected", "Refused"),
    "junk": ("junk", "spam", "Junk"),
}
LEAD_STATUS_SPELLING_WEIGHTS = (0.7, 0.2, 0.1)
ORDER_STATUS_SPELLINGS = {
    "completed": ("completed", "Completed", "paid", "delivered", "done"),
    "cancelled": ("cancelled", "canceled", "CANCELLED"),
    "refunded": ("refunded", "returned"),
    "pending": ("pending", "processing", "new"),
}
ORDER_STATUS_SPELLING_WEIGHTS = {
    "completed": (0.8, 0.08, 0.05, 0.04, 0.03),
    "cancelled": (0.8, 0.15, 0.05),
    "refunded": (0.85, 0.15),
    "pending": (0.6, 0.3, 0.1),
}
EVENT_TYPES = ("sent", "delivered", "open", "click", "bounce", "unsubscribe", "complaint")
# Aliases an ESP export may use instead (seeds/email_event_type_map.csv).
EVENT_TYPE_ALIASES = ("send", "delivery", "opened", "clicked", "hard_bounce", "unsubscribed", "spamreport")

# Values no map knows: the dirty rows that staging must quarantine or flag.
UNKNOWN_LEAD_STATUSES = ("callback", "Перезвонить", "vip?")
UNKNOWN_ORDER_STATUSES = ("on_hold", "awaiting_payment", "shipped")
UNKNOWN_CURRENCIES = ("BYN", "USDT", "KGS")
UNKNOWN_EVENT_TYPES = ("deferred", "forwarded", "viewed_online")
INVALID_OPT_INS = ("maybe", "?", "n/a")
